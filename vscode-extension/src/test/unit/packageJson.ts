/**
 * package.json as the tests read it, and its tree-menu `when` clauses as regular expressions.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface MenuItem {
    command: string;
    when: string;
    group: string;
}

export const EXTENSION_ROOT = path.join(__dirname, '..', '..', '..');

export interface SettingSchema {
    enum?: string[];
    enumDescriptions?: string[];
}

export interface PackageJson {
    icon: string;
    repository: { url: string };
    bugs: { url: string };
    homepage: string;
    scripts: Record<string, string>;
    capabilities: { untrustedWorkspaces: { supported: string; restrictedConfigurations: string[] } };
    contributes: {
        commands: Array<{ command: string; title: string }>;
        menus: Record<string, MenuItem[]>;
        viewsWelcome: Array<{ view: string; when?: string; contents: string }>;
        configuration: { properties: Record<string, SettingSchema> };
    };
}

export const PKG = JSON.parse(fs.readFileSync(path.join(EXTENSION_ROOT, 'package.json'), 'utf8')) as PackageJson;

export const TREE_MENUS = PKG.contributes.menus['view/item/context'];

export function whenRegex(item: MenuItem): RegExp {
    const m = /viewItem =~ \/(.*)\/$/.exec(item.when);
    if (!m) {
        throw new Error(`no viewItem regex in ${item.when}`);
    }
    return new RegExp(m[1]);
}

/** Whether `command` shows for a row with `contextValue`, inline or in the right-click menu. */
export function shows(command: string, contextValue: string, where: 'inline' | 'menu'): boolean {
    return TREE_MENUS.filter((i) => i.command === command && i.group.startsWith('inline') === (where === 'inline'))
        .some((i) => whenRegex(i).test(contextValue));
}
