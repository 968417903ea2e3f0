/**
 * Mocha setup: resolves `require('vscode')` to the mock, so modules can be loaded in plain Node.
 */
import Module from 'module';
import * as mock from './vscodeMock';

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const mod = Module as unknown as { _load: Load };
const original = mod._load;
mod._load = function (request: string, parent: unknown, isMain: boolean): unknown {
    if (request === 'vscode') {
        return mock;
    }
    return original.call(this, request, parent, isMain);
};
