// Drives the Nexus extension inside code-server with Playwright (system Chromium).
// usage: node driver.js URL ARTIFACTS_DIR    (run by run.sh, which sets the environment)
/* global fetch, AbortSignal */
'use strict';
const { chromium } = require(process.env.PW_CORE || 'playwright-core');
const { execFileSync, execSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const [url, art] = process.argv.slice(2);
const runDir = process.env.NEXUS_E2E_RUN_DIR;
const recordFile = process.env.NEXUS_E2E_RECORD_OPEN;
const externalFile = process.env.NEXUS_E2E_RECORD_EXTERNAL;
const cli = process.env.NEXUS_E2E_CLI;
const PREVIEW_PORT = Number(process.env.NEXUS_E2E_PREVIEW_PORT || 8125);
const backend = process.env.NEXUS_E2E_BACKEND || 'docker';
const name = process.env.NEXUS_E2E_WORKSPACE || `e2e-${Date.now().toString(36).slice(-5)}`;
const PREVIEW_MARKER = `nexus-preview-e2e-${name}`;
const CREATE_TIMEOUT = Number(process.env.NEXUS_E2E_CREATE_TIMEOUT_MS || 600000);

/**
 * A shell snippet run in the workspace: a tiny HTTP server (perl, which the image has) on
 * 127.0.0.1:PREVIEW_PORT answering every request with PREVIEW_MARKER, fully detached from
 * the exec session; it returns once the port accepts connections.
 */
function previewServerSnippet() {
    const server = [
        'use IO::Socket::INET;',
        `my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => ${PREVIEW_PORT}, Listen => 16, ReuseAddr => 1) or die "listen: $!";`,
        `my $b = "<h1>${PREVIEW_MARKER}</h1>\\n";`,
        'while (my $c = $s->accept) {',
        '    while (my $l = <$c>) { last if $l =~ /^\\r?\\n$/ }',
        '    print $c "HTTP/1.1 200 OK\\r\\nContent-Type: text/html\\r\\nContent-Length: " . length($b) . "\\r\\nConnection: close\\r\\n\\r\\n$b";',
        '    close $c;',
        '}',
    ].join('\n');
    const probe = `perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new("127.0.0.1:${PREVIEW_PORT}") ? 0 : 1)'`;
    return [
        "cat > /tmp/nexus-e2e-serve.pl <<'PERL'", server, 'PERL',
        '(nohup perl /tmp/nexus-e2e-serve.pl </dev/null >/dev/null 2>&1 &)',
        `for i in $(seq 1 50); do ${probe} && exit 0; sleep 0.2; done; echo "nothing listens on ${PREVIEW_PORT}" >&2; exit 1`,
    ].join('\n');
}

/** GET `url`; resolves to { status, body } or { error }. */
async function httpGet(url) {
    try {
        const res = await fetch(url, { signal: AbortSignal.timeout(15000) });
        return { status: res.status, body: await res.text() };
    } catch (e) {
        return { error: String((e && e.cause && e.cause.code) || (e && e.message) || e) };
    }
}

const t0 = Date.now();
const log = (...a) => console.log(`[driver ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
let shot = 0;
const steps = [];
let cancelOutcome = 'not run';
let previewResult = null;
let statusBar = null;
let terminal = null;
const menus = {};
let syncResult = null;
let brokenSidecar = null;
let autoStop = null;
let doctor = null;
let budget = null;
// workspaces made outside the palette (the CLI), deleted by run.sh after a failed run
const otherWorkspaces = [];

async function screenshot(page, label) {
    shot += 1;
    const file = path.join(art, `${String(shot).padStart(2, '0')}-${label}.png`);
    await page.screenshot({ path: file });
    log('screenshot', path.basename(file));
}

/** result.json is rewritten after every step, so a run killed half-way still names its workspace. */
function saveResult(ok, error) {
    fs.writeFileSync(path.join(art, 'result.json'), JSON.stringify({
        ok, workspace: name, backend, error, cancel: cancelOutcome, preview: previewResult, statusBar, terminal, menus, sync: syncResult,
        brokenSidecar, autoStop, doctor, budget, otherWorkspaces, steps, seconds: (Date.now() - t0) / 1000,
    }, null, 2) + '\n');
}

async function step(label, fn) {
    const s = Date.now();
    log(`step: ${label}`);
    saveResult(false, `interrupted during: ${label}`);
    await fn();
    steps.push({ step: label, seconds: (Date.now() - s) / 1000 });
}

/** Runs a palette command; retries while contributed commands are not registered yet. */
async function runCommand(page, title) {
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title });
    const input = page.locator('.quick-input-widget .quick-input-box input');
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
        await page.keyboard.press('Escape');
        await page.keyboard.press('F1');
        if (!(await input.waitFor({ state: 'visible', timeout: 4000 }).then(() => true, () => false))) {
            continue;
        }
        await input.fill(`>${title}`);
        if (await row.first().waitFor({ state: 'visible', timeout: 3000 }).then(() => true, () => false)) {
            await page.keyboard.press('Enter');
            return;
        }
        log(`"${title}" not in the palette yet, retrying`);
        await page.waitForTimeout(1000);
    }
    throw new Error(`command "${title}" never appeared in the palette`);
}

/** Waits for a quick input whose title contains `title`. */
async function quickInput(page, title) {
    await page.locator('.quick-input-widget .quick-input-title', { hasText: title }).waitFor({ state: 'visible', timeout: 20000 });
}

/** Picks the quick pick entry labelled `label`. */
async function pick(page, label) {
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.fill(label);
    await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: label }).waitFor({ timeout: 10000 });
    await page.keyboard.press('Enter');
}

/** Deletes a workspace through the palette and the confirmation dialog; waits for its row to go. */
async function deleteViaPalette(page, ws, shoot) {
    await runCommand(page, 'Nexus: Delete Workspace');
    await pick(page, ws);
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ timeout: 15000 });
    if (shoot) {
        await screenshot(page, 'delete-confirm');
    }
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.locator('.pane-body .monaco-list-row', { hasText: ws }).first().waitFor({ state: 'detached', timeout: CREATE_TIMEOUT });
    await page.waitForTimeout(500);
}

/** The extension's log file in the code-server profile. */
function logFile() {
    const logs = path.join(runDir, 'ud', 'logs');
    for (const session of fs.existsSync(logs) ? fs.readdirSync(logs).sort().reverse() : []) {
        const f = path.join(logs, session, 'exthost1', 'nexus.nexus-workspaces', 'Nexus.log');
        if (fs.existsSync(f)) {
            return f;
        }
    }
    return path.join(logs, 'missing');
}

function treeRow(page) {
    return page.locator('.pane-body .monaco-list-row', { hasText: name });
}

async function showNexusView(page) {
    const icon = page.locator('.activitybar .action-label[aria-label^="Nexus"]');
    if (await icon.first().isVisible().catch(() => false)) {
        await icon.first().click();
    } else {
        await runCommand(page, 'View: Show Nexus Workspaces');
    }
    await page.locator('.pane-header[aria-label^="Nexus Workspaces"]').first().waitFor({ state: 'attached', timeout: 20000 });
}

/** Right-clicks `row` and returns the labels of its context menu (the menu stays open). */
async function openRowMenu(page, row) {
    await row.click({ button: 'right' });
    const menu = page.locator('.context-view .monaco-menu').first();
    await menu.waitFor({ timeout: 10000 });
    await page.waitForTimeout(300);
    return (await menu.locator('.action-label').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
}

/** Clicks `label` in `row`'s context menu. */
async function rowMenuAction(page, row, label) {
    const labels = await openRowMenu(page, row);
    if (!labels.includes(label)) {
        await page.keyboard.press('Escape');
        throw new Error(`"${label}" is not in the context menu: ${labels.join(', ')}`);
    }
    await page.locator('.context-view .monaco-menu .action-item', { hasText: label }).first().click();
}

/** Checks that a context menu shows `want` and none of `not`. */
function expectMenu(labels, want, not, what) {
    const missing = want.filter((l) => !labels.includes(l));
    const extra = not.filter((l) => labels.includes(l));
    if (missing.length || extra.length) {
        throw new Error(`context menu of ${what}: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)} (got ${JSON.stringify(labels)})`);
    }
}

/** Items of the notification center whose text contains `text` (opens and closes the center). */
async function notificationCount(page, text) {
    await runCommand(page, 'Notifications: Show Notifications');
    const center = page.locator('.notifications-center');
    await center.first().waitFor({ timeout: 10000 });
    await page.waitForTimeout(300);
    const n = await center.locator('.notification-list-item', { hasText: text }).count();
    const hide = center.locator('.action-label[aria-label^="Hide Notifications"]').first();
    if (await hide.isVisible().catch(() => false)) {
        await hide.click();
    } else {
        await page.keyboard.press('Escape');
    }
    await center.first().waitFor({ state: 'hidden', timeout: 10000 }).catch(() => log('the notification center stayed open'));
    return n;
}

/** Sets `nexus.sidecar.command` in the User and Machine settings files (code-server re-reads them). */
function setSidecarCommand(value) {
    for (const dir of ['User', 'Machine']) {
        const file = path.join(runDir, 'ud', dir, 'settings.json');
        const settings = JSON.parse(fs.readFileSync(file, 'utf8'));
        settings['nexus.sidecar.command'] = value;
        fs.writeFileSync(file, JSON.stringify(settings, null, 2) + '\n');
    }
}

/** Runs the nexus CLI in the project folder (as a user in a terminal would); its stdout. */
function nexus(...args) {
    return execFileSync(cli, args, { cwd: path.join(runDir, 'project'), encoding: 'utf8', timeout: 300000 });
}

/** The Daytona emulator's view of a sandbox (`GET /_emulator/state`). */
async function emulatorSandbox(id) {
    const base = String(process.env.DAYTONA_API_URL).replace(/\/api\/?$/, '');
    const res = await fetch(`${base}/_emulator/state`, {
        headers: { Authorization: `Bearer ${process.env.DAYTONA_API_KEY}` },
        signal: AbortSignal.timeout(15000),
    });
    const state = await res.json();
    const sandbox = (state.sandboxes || []).find((s) => s.id === id);
    if (!sandbox) {
        throw new Error(`the emulator has no sandbox ${id}`);
    }
    return sandbox;
}

/** A toast containing `text`. */
function toast(page, text) {
    return page.locator('.notifications-toasts .notification-toast', { hasText: text }).first();
}

/** A toast's message and the labels of its buttons. */
async function toastContent(t) {
    const message = (await t.locator('.notification-list-item-message').first().innerText()).replace(/\s+/g, ' ').trim();
    const buttons = (await t.locator('.monaco-button').allInnerTexts()).map((b) => b.trim()).filter(Boolean);
    return { message, buttons };
}

/** The text of the active editor's visible lines. */
async function editorLines(page) {
    const lines = await page.locator('.editor-group-container.active .monaco-editor .view-lines .view-line').allInnerTexts();
    return lines.map((l) => l.replace(/\u00a0/g, ' '));
}

/**
 * The document line starting with `start`, joined from the editor's wrapped rows of it: a table
 * row of `cells` cells goes on until it has them all, other text until a blank row or one that
 * starts a block.
 */
function wrappedLine(rows, start, cells = 0) {
    const i = rows.findIndex((r) => r.startsWith(start));
    if (i < 0) {
        return null;
    }
    // a table row is whole once it has all its cells (the editor may wrap it right after a `|`)
    const table = cells > 0;
    let line = rows[i];
    for (let j = i + 1; j < rows.length; j++) {
        const done = table ? (line.match(/\|/g) || []).length > cells : !rows[j].trim() || /^(\||\*\*|>|#|- )/.test(rows[j]);
        if (done) {
            break;
        }
        line += rows[j];
    }
    return line.replace(/\s+/g, ' ').trim();
}

/** Waits until the active editor is `fileName` and shows a line matching `re`; its lines. */
async function documentShown(page, fileName, re) {
    await page.locator('.editor-group-container.active .tab.active', { hasText: fileName }).first().waitFor({ timeout: 60000 });
    const deadline = Date.now() + 30000;
    let lines = [];
    while (Date.now() < deadline) {
        lines = await editorLines(page);
        if (lines.some((l) => re.test(l))) {
            return lines;
        }
        await page.waitForTimeout(250);
    }
    throw new Error(`${fileName} shows no line matching ${re}: ${JSON.stringify(lines)}`);
}

function hidePanel(page) {
    return page.locator('.part.panel .action-label[aria-label^="Hide Panel"], .part.panel .action-label[aria-label^="Close Panel"]')
        .first().click({ timeout: 5000 }).catch(() => log('could not hide the panel'));
}

(async () => {
    const profile = fs.mkdtempSync(path.join(runDir || art, 'chrome-'));
    const ctx = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        viewport: { width: 1400, height: 860 },
        timeout: 60000,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-dev-shm-usage',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = ctx.pages()[0] || (await ctx.newPage());
    let failed;
    try {
        await step('load the workbench', async () => {
            await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60000 });
            await page.waitForSelector('.monaco-workbench .part.statusbar', { timeout: 60000 });
            await page.waitForTimeout(1000);
        });

        await step('Nexus: Create Workspace', async () => {
            await runCommand(page, 'Nexus: Create Workspace');
            await quickInput(page, '(1/3)');
            await page.locator('.quick-input-widget .quick-input-box input').fill(name);
            await screenshot(page, 'create-name');
            await page.keyboard.press('Enter');
            await quickInput(page, '(2/3)');
            await screenshot(page, 'create-backend');
            await pick(page, backend);
            await quickInput(page, '(3/3)');
            await screenshot(page, 'create-resources');
            await pick(page, 'Default');
        });

        await step('progress notification with Cancel', async () => {
            const toast = page.locator('.notifications-toasts .notification-toast', { hasText: `Creating workspace "${name}"` });
            if (await toast.first().waitFor({ timeout: 15000 }).then(() => true, () => false)) {
                await page.waitForTimeout(500);
                await screenshot(page, 'create-progress');
                const cancel = toast.first().locator('.monaco-button', { hasText: 'Cancel' });
                log(`progress toast seen; Cancel button visible: ${await cancel.isVisible().catch(() => false)}`);
            } else {
                log('progress toast not seen (the operation may have finished already)');
            }
        });

        await step('the workspace appears in the tree as running', async () => {
            await showNexusView(page);
            await treeRow(page).first().waitFor({ timeout: 30000 });
            await treeRow(page).filter({ hasText: 'running' }).first().waitFor({ timeout: CREATE_TIMEOUT });
            await page.waitForTimeout(500);
            await screenshot(page, 'tree-running');
        });

        await step('the status bar item shows the sidecar; a click offers actions', async () => {
            const item = page.locator('.part.statusbar .statusbar-item', { hasText: 'Nexus' }).first();
            await item.waitFor({ timeout: 30000 });
            const label = (await item.innerText()).trim();
            const aria = await item.locator('a, .statusbar-item-label').first().getAttribute('aria-label').catch(() => null);
            log(`status bar item: ${JSON.stringify(label)} (${aria})`);
            await item.click();
            for (const action of ['Show Logs', 'Restart Sidecar', 'Open Terminal']) {
                await page.locator('.quick-input-list .monaco-list-row', { hasText: action }).first().waitFor({ timeout: 15000 });
            }
            await screenshot(page, 'status-bar-actions');
            await page.keyboard.press('Escape');
            statusBar = { text: label, ariaLabel: aria };
        });

        await step('the context menu of a running workspace offers Stop, not Start', async () => {
            const labels = await openRowMenu(page, treeRow(page).first());
            await screenshot(page, 'menu-running');
            await page.keyboard.press('Escape');
            expectMenu(labels, ['Open in New Window', 'Open Terminal', 'Stop Workspace', 'Delete Workspace'], ['Start Workspace'], 'a running workspace');
            menus.running = labels;
        });

        // the terminal runs the real `nexus workspace ssh` (the fake sidecar has no CLI)
        if (cli) {
            await step('Open Terminal: a shell in the workspace runs a command', async () => {
                const row = treeRow(page).first();
                await row.hover();
                await row.locator('.action-label[aria-label="Open Terminal"]').click({ timeout: 10000 });
                const screen = page.locator('.part.panel .terminal-wrapper .xterm-rows');
                await screen.first().waitFor({ timeout: 30000 });
                // the workspace's shell prompt (its cwd is /workspace) before typing
                await screen.filter({ hasText: '/workspace' }).first().waitFor({ timeout: 60000 })
                    .catch(() => log('no prompt with /workspace seen; typing anyway'));
                await page.locator('.part.panel .terminal-wrapper .xterm').first().click();
                await page.keyboard.type('echo nexus-term-$((6*7)) in $(hostname)');
                await page.keyboard.press('Enter');
                await screen.filter({ hasText: 'nexus-term-42 in' }).first().waitFor({ timeout: 30000 });
                const tab = await page.locator('.part.panel .terminal-tabs-entry, .part.panel .single-terminal-tab').allInnerTexts().catch(() => []);
                terminal = { tabs: tab.map((t) => t.trim()), output: (await screen.first().innerText()).split('\n').filter((l) => l.includes('nexus-term-42')) };
                log('terminal', JSON.stringify(terminal));
                await screenshot(page, 'terminal-command');
                await page.keyboard.type('exit');
                await page.keyboard.press('Enter');
                await page.waitForTimeout(500);
                await hidePanel(page);
            });
        }

        await step('Open in New Window (inline action, recorded)', async () => {
            const row = treeRow(page).first();
            await row.hover();
            await row.locator('.action-label[aria-label="Open in New Window"]').click({ timeout: 10000 });
            const deadline = Date.now() + 60000;
            while (!fs.existsSync(recordFile) && Date.now() < deadline) {
                await page.waitForTimeout(250);
            }
            if (!fs.existsSync(recordFile)) {
                throw new Error('Open in New Window did not record a URI');
            }
            const record = JSON.parse(fs.readFileSync(recordFile, 'utf8'));
            log('open record', JSON.stringify(record));
            const want = `vscode-remote://ssh-remote+nexus-${name}/`;
            if (record.command !== 'vscode.openFolder' || !String(record.uri).startsWith(want) || record.options?.forceNewWindow !== true) {
                throw new Error(`unexpected open record ${JSON.stringify(record)} (wanted ${want}...)`);
            }
            await screenshot(page, 'open-recorded');
        });

        const terminalStop = process.env.NEXUS_E2E_TERMINAL_STOP;
        if (terminalStop) {
            await step('a stop made from a terminal shows in the tree; Start from the tree', async () => {
                const cmd = terminalStop.replaceAll('{name}', name);
                log(`terminal: ${cmd}`);
                execSync(cmd, { stdio: 'inherit', timeout: 300000 });
                await treeRow(page).filter({ hasText: 'stopped' }).first().waitFor({ timeout: 60000 });
                await screenshot(page, 'tree-stopped-from-terminal');
                const labels = await openRowMenu(page, treeRow(page).first());
                await screenshot(page, 'menu-stopped');
                await page.keyboard.press('Escape');
                expectMenu(labels, ['Start Workspace', 'Delete Workspace', 'Show Info'], ['Stop Workspace', 'Open in New Window', 'Open Terminal'], 'a stopped workspace');
                menus.stopped = labels;
                const row = treeRow(page).first();
                await row.hover();
                await row.locator('.action-label[aria-label="Start Workspace"]').click({ timeout: 10000 });
                await treeRow(page).filter({ hasText: 'running' }).first().waitFor({ timeout: CREATE_TIMEOUT });
            });
        }

        await step('Nexus: Run Command in Workspace streams its output', async () => {
            await runCommand(page, 'Nexus: Run Command in Workspace');
            await pick(page, name);
            await page.locator('.quick-input-widget .quick-input-title', { hasText: `Run in workspace "${name}"` }).waitFor({ timeout: 20000 });
            await page.locator('.quick-input-widget .quick-input-box input').fill('echo nexus-e2e-ok');
            await page.keyboard.press('Enter');
            const lines = page.locator('.part.panel .view-line');
            await lines.filter({ hasText: /^\s*nexus-e2e-ok\s*$/ }).first().waitFor({ timeout: 60000 });
            await lines.filter({ hasText: '[exit code 0]' }).first().waitFor({ timeout: 60000 });
            await screenshot(page, 'exec-output');
            await page.locator('.part.panel .action-label[aria-label^="Hide Panel"], .part.panel .action-label[aria-label^="Close Panel"]')
                .first().click({ timeout: 5000 }).catch(() => log('could not hide the panel'));
        });

        await step('Nexus: Show Info', async () => {
            await runCommand(page, 'Nexus: Show Info');
            await pick(page, name);
            await page.locator('.monaco-editor .view-lines', { hasText: `Nexus workspace ${name}` }).first().waitFor({ timeout: 30000 });
            await screenshot(page, 'show-info');
            await runCommand(page, 'View: Close Editor');
        });

        if (cli && externalFile) {
            await step('Nexus: Open Preview from the palette serves the workspace\'s web server; Close Preview ends it', async () => {
                execFileSync(cli, ['workspace', 'exec', name, '--', previewServerSnippet()], { stdio: 'inherit', timeout: 120000 });
                await runCommand(page, 'Nexus: Open Preview');
                await pick(page, name);
                await quickInput(page, `Open a preview of workspace "${name}"`);
                await page.locator('.quick-input-widget .quick-input-box input').fill(String(PREVIEW_PORT));
                await page.keyboard.press('Enter');
                const toast = page.locator('.notifications-toasts .notification-toast', { hasText: `Preview of ${name}:${PREVIEW_PORT} at http://127.0.0.1:` });
                await toast.first().waitFor({ timeout: 120000 });
                await page.waitForTimeout(300);
                await screenshot(page, 'preview-opened');
                if (!fs.existsSync(externalFile)) {
                    throw new Error('Open Preview did not record the URL it opens');
                }
                const record = JSON.parse(fs.readFileSync(externalFile, 'utf8'));
                log('external record', JSON.stringify(record));
                if (record.command !== 'openExternal' || !/^http:\/\/127\.0\.0\.1:\d+\/?$/.test(String(record.url))) {
                    throw new Error(`unexpected external record ${JSON.stringify(record)}`);
                }
                const got = await httpGet(record.url);
                log('GET', record.url, JSON.stringify(got).slice(0, 200));
                if (got.status !== 200 || !String(got.body).includes(PREVIEW_MARKER)) {
                    throw new Error(`the preview at ${record.url} did not serve the workspace's page: ${JSON.stringify(got).slice(0, 300)}`);
                }
                const listed = JSON.parse(execFileSync(cli, ['workspace', 'preview', 'list', '--json'], { encoding: 'utf8', timeout: 60000 }));
                const previews = Array.isArray(listed) ? listed : listed.previews || [];
                if (!previews.some((p) => p.workspace === name && p.port === PREVIEW_PORT)) {
                    throw new Error(`nexus workspace preview list does not show ${name}:${PREVIEW_PORT}: ${JSON.stringify(listed)}`);
                }
                previewResult = { url: record.url, body: got.body.trim(), listed: previews.length };

                await runCommand(page, 'Nexus: Close Preview');
                await pick(page, `${name}:${PREVIEW_PORT}`);
                await page.locator('.notifications-toasts .notification-toast', { hasText: `Closed the preview of ${name}:${PREVIEW_PORT}` })
                    .first().waitFor({ timeout: 60000 });
                await screenshot(page, 'preview-closed');
                const after = await httpGet(record.url);
                log('GET after close', JSON.stringify(after).slice(0, 200));
                if (after.status === 200 && String(after.body).includes(PREVIEW_MARKER)) {
                    throw new Error(`the preview at ${record.url} still serves after Close Preview`);
                }
                previewResult.afterClose = after.error || `HTTP ${after.status}`;
            });
        }

        if (cli && process.env.NEXUS_MUTAGEN && backend === 'docker') {
            await step('sync: the row shows its state; pause, flush and resume from its menu; a conflict warns once', async () => {
                const local = path.join(runDir, 'sync-src');
                fs.mkdirSync(local, { recursive: true });
                fs.writeFileSync(path.join(local, 'a.txt'), 'base\n');
                execFileSync(cli, ['sync', 'start', name, '--local', local, '--remote', '/home/nexus/src'], { stdio: 'inherit', timeout: 240000 });
                const row = () => treeRow(page).first();
                await treeRow(page).filter({ hasText: 'sync: watching' }).first().waitFor({ timeout: 60000 });
                await screenshot(page, 'sync-watching');
                await rowMenuAction(page, row(), 'Flush Sync');
                await page.locator('.notifications-toasts .notification-toast', { hasText: `Sync of "${name}" flushed` }).first().waitFor({ timeout: 120000 });
                await rowMenuAction(page, row(), 'Pause Sync');
                await treeRow(page).filter({ hasText: 'sync paused' }).first().waitFor({ timeout: 60000 });
                await screenshot(page, 'sync-paused');
                // both sides change a.txt while paused: a conflict once it resumes
                fs.writeFileSync(path.join(local, 'a.txt'), 'changed on this machine\n');
                execFileSync(cli, ['workspace', 'exec', name, '--', 'echo changed in the workspace > /home/nexus/src/a.txt'], { stdio: 'inherit', timeout: 120000 });
                await rowMenuAction(page, row(), 'Resume Sync');
                await treeRow(page).filter({ hasText: '1 conflict' }).first().waitFor({ timeout: 120000 });
                const warning = page.locator('.notifications-toasts .notification-toast', { hasText: `Sync of "${name}" has 1 conflict.` });
                await warning.first().waitFor({ timeout: 30000 });
                await page.waitForTimeout(500);
                await screenshot(page, 'sync-conflict-warning');
                syncResult = { conflictWarnings: await notificationCount(page, `Sync of "${name}" has 1 conflict.`) };
                if (syncResult.conflictWarnings !== 1) {
                    throw new Error(`expected one conflict warning, got ${syncResult.conflictWarnings}`);
                }
            });
        }

        await step('Nexus: Restart Sidecar keeps the tree', async () => {
            const before = fs.existsSync(logFile()) ? fs.readFileSync(logFile(), 'utf8').split('sidecar ready').length : 0;
            await runCommand(page, 'Nexus: Restart Sidecar');
            const deadline = Date.now() + 60000;
            while (Date.now() < deadline && !(fs.existsSync(logFile()) && fs.readFileSync(logFile(), 'utf8').split('sidecar ready').length > before)) {
                await page.waitForTimeout(250);
            }
            if (Date.now() >= deadline) {
                throw new Error('the sidecar did not come back after Restart Sidecar');
            }
            await treeRow(page).filter({ hasText: 'running' }).first().waitFor({ timeout: 30000 });
            if (syncResult) {
                // the sync comes back in conflict: no second warning after a sidecar restart
                await treeRow(page).filter({ hasText: '1 conflict' }).first().waitFor({ timeout: 60000 });
                await page.waitForTimeout(3000);
                syncResult.warningsAfterRestart = await notificationCount(page, `Sync of "${name}" has 1 conflict.`);
                if (syncResult.warningsAfterRestart !== 1) {
                    throw new Error(`a sidecar restart warned again about the conflict (${syncResult.warningsAfterRestart} warnings)`);
                }
                await screenshot(page, 'sync-after-restart');
            }
        });

        await step('a broken nexus.sidecar.command: one message and the welcome view; fixing it brings the tree back', async () => {
            await runCommand(page, 'Notifications: Clear All Notifications');
            const good = JSON.parse(fs.readFileSync(path.join(runDir, 'ud', 'User', 'settings.json'), 'utf8'))['nexus.sidecar.command'];
            setSidecarCommand('/nonexistent/nexus-sidecar');
            const welcome = page.locator('.pane-body .welcome-view-content', { hasText: 'The Nexus sidecar is not running' });
            await welcome.first().waitFor({ timeout: 60000 });
            for (const button of ['Open Settings', 'Restart Sidecar']) {
                await welcome.first().locator('.monaco-button', { hasText: button }).first().waitFor({ timeout: 10000 });
            }
            await page.locator('.notifications-toasts .notification-toast', { hasText: 'nexus.sidecar.command' }).first().waitFor({ timeout: 30000 });
            await page.waitForTimeout(3000); // a second toast would have come by now
            const toasts = (await page.locator('.notifications-toasts .notification-toast').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
            await screenshot(page, 'sidecar-broken-welcome');
            if (toasts.some((t) => /couldn't create connection|connection to server|Server initialization failed/i.test(t))) {
                throw new Error(`a language client toast showed: ${JSON.stringify(toasts)}`);
            }
            const sidecarToasts = toasts.filter((t) => /sidecar/i.test(t));
            if (sidecarToasts.length !== 1) {
                throw new Error(`expected one sidecar message, got ${JSON.stringify(toasts)}`);
            }
            if (await treeRow(page).count()) {
                throw new Error('the tree still lists workspaces while the sidecar is down');
            }
            brokenSidecar = { message: sidecarToasts[0] };
            await runCommand(page, 'Notifications: Clear All Notifications');
            setSidecarCommand(good);
            await treeRow(page).filter({ hasText: 'running' }).first().waitFor({ timeout: 60000 });
            await screenshot(page, 'sidecar-fixed');
        });

        await step('Nexus: Delete Workspace (confirmed) and the tree row goes', async () => {
            await deleteViaPalette(page, name, true);
            await screenshot(page, 'tree-after-delete');
        });
        await step('Create again and Cancel from the progress notification', async () => {
            const doomed = `${name}-c`;
            await runCommand(page, 'Nexus: Create Workspace');
            await quickInput(page, '(1/3)');
            await page.locator('.quick-input-widget .quick-input-box input').fill(doomed);
            await page.keyboard.press('Enter');
            await quickInput(page, '(2/3)');
            await pick(page, backend);
            await quickInput(page, '(3/3)');
            await pick(page, 'Default');
            const toast = page.locator('.notifications-toasts .notification-toast', { hasText: `Creating workspace "${doomed}"` });
            // Click as soon as the button exists (a warm local create takes well under a second):
            // a DOM click event, since the toast is still sliding in.
            const cancelButton = toast.first().locator('.monaco-button', { hasText: 'Cancel' });
            await cancelButton.waitFor({ state: 'attached', timeout: 15000 });
            await cancelButton.dispatchEvent('click');
            const cancelled = page.locator('.notifications-toasts .notification-toast', { hasText: `Create workspace "${doomed}": cancelled.` });
            const finished = page.locator('.notifications-toasts .notification-toast', { hasText: `Workspace "${doomed}" is running.` });
            const outcome = await Promise.race([
                cancelled.first().waitFor({ timeout: CREATE_TIMEOUT }).then(() => 'cancelled'),
                finished.first().waitFor({ timeout: CREATE_TIMEOUT }).then(() => 'finished'),
            ]);
            await screenshot(page, 'create-cancelled');
            cancelOutcome = outcome;
            if (outcome !== 'cancelled') {
                // The sidecar answered before the cancellation reached it: not a failure of the
                // extension, but nothing was verified; clean up.
                log(`WARNING: the create of ${doomed} finished before Cancel reached the sidecar; deleting it`);
                await deleteViaPalette(page, doomed, false);
                return;
            }
            const row = page.locator('.pane-body .monaco-list-row', { hasText: doomed });
            await row.first().waitFor({ state: 'detached', timeout: 30000 });
            await page.getByRole('button', { name: 'Refresh Workspaces' }).first().click().catch(() => undefined);
            await page.waitForTimeout(1500);
            if (await row.count()) {
                throw new Error(`${doomed} is still listed after the cancelled create`);
            }
            await screenshot(page, 'tree-after-cancel');
        });
        if (cli && process.env.DAYTONA_API_URL) {
            await step('Daytona: an auto-stop warning with Keep running; the API records the activity', async () => {
                await runCommand(page, 'Notifications: Clear All Notifications');
                const ws = `${name}-d`;
                otherWorkspaces.push(ws);
                const created = JSON.parse(nexus('workspace', 'create', ws, '--backend', 'daytona', '--auto-stop', '1', '--json'));
                const createdAt = Date.now();
                // "~1 min"; "~2 min" when the sidecar read the deadline within the second of the last activity
                const warning = toast(page, new RegExp(`Workspace "${ws}" stops in ~\\d+ min: no activity for a while\\.`));
                await warning.waitFor({ timeout: 60000 });
                await treeRow(page).first().waitFor({ timeout: 30000 }).catch(() => undefined);
                await page.waitForTimeout(500);
                await screenshot(page, 'auto-stop-warning');
                const button = warning.locator('.monaco-button', { hasText: 'Keep running' });
                await button.waitFor({ timeout: 10000 });
                const warned = await toastContent(warning);
                // the API drops activity within 5 s of the last it took (the create's): click after that
                await page.waitForTimeout(Math.max(0, createdAt + 6000 - Date.now()));
                const before = (await emulatorSandbox(created.backendId)).lastActivityAt;
                const clickedAt = Date.now();
                await button.click();
                const kept = toast(page, `Workspace "${ws}" keeps running`);
                await kept.waitFor({ timeout: 60000 });
                // a long message shows on one line until expanded
                await kept.locator('.action-label[aria-label^="Expand"]').first().click({ timeout: 2000 }).catch(() => undefined);
                await page.waitForTimeout(300);
                await screenshot(page, 'auto-stop-kept-running');
                const keptText = (await toastContent(kept)).message;
                // the API buffers activity (about 10 s) before lastActivityAt shows it; the activity
                // "Keep running" records is from after the click
                const deadline = Date.now() + 45000;
                let sandbox = await emulatorSandbox(created.backendId);
                while (Date.parse(sandbox.lastActivityAt) < clickedAt && Date.now() < deadline) {
                    await page.waitForTimeout(500);
                    sandbox = await emulatorSandbox(created.backendId);
                }
                log(`lastActivityAt ${before} -> ${sandbox.lastActivityAt} (${sandbox.state}); clicked at ${new Date(clickedAt).toISOString()}`);
                if (Date.parse(sandbox.lastActivityAt) < clickedAt) {
                    throw new Error(`Keep running did not move the sandbox's lastActivityAt (${sandbox.lastActivityAt}) past the click`);
                }
                autoStop = {
                    workspace: ws, warning: warned.message, warningButtons: warned.buttons, keptRunning: keptText,
                    lastActivityBefore: before, clickedAt: new Date(clickedAt).toISOString(),
                    lastActivityAfter: sandbox.lastActivityAt, state: sandbox.state,
                };
                nexus('workspace', 'delete', ws, '--force');
                await page.locator('.pane-body .monaco-list-row', { hasText: ws }).first().waitFor({ state: 'detached', timeout: 60000 });
                await runCommand(page, 'Notifications: Clear All Notifications');
            });
        }

        await step('Nexus: Run Doctor opens nexus-doctor.md with its findings', async () => {
            await runCommand(page, 'Nexus: Run Doctor');
            const lines = await documentShown(page, 'nexus-doctor.md', /DOCTOR_[A-Z_]+/);
            // then "found nothing wrong", or the problems with "Fix" when it can fix some (not clicked)
            const verdict = toast(page, /Nexus doctor/);
            const verdictShown = await verdict.waitFor({ timeout: 10000 }).then(() => true, () => false);
            await page.waitForTimeout(500);
            await screenshot(page, 'doctor-report');
            doctor = {
                title: lines.find((l) => l.startsWith('#')) || null,
                codes: lines.map((l) => (l.match(/^- \S+ `(DOCTOR_[A-Z_]+)`/) || [])[1]).filter(Boolean),
                verdict: verdictShown ? (await toastContent(verdict)).message : null,
            };
            log('doctor', JSON.stringify(doctor.codes));
            await runCommand(page, 'View: Close Editor');
            await runCommand(page, 'Notifications: Clear All Notifications');
        });

        // Last: once the month is over the budget, creating or starting a workspace asks first.
        if (cli) {
            await step('a budget warning with Show Usage opens nexus-usage.md with the workspace\'s row', async () => {
                const ws = `${name}-b`;
                otherWorkspaces.push(ws);
                nexus('workspace', 'create', ws, '--cpu', '1', '--json');
                // rates and a budget that a few seconds of one CPU exceed
                nexus('config', 'set', 'backends.docker.rates.cpu_hour', '3600');
                nexus('config', 'set', 'budget.monthly', '1');
                await page.waitForTimeout(3000);
                nexus('workspace', 'stop', ws, '--json');
                const warning = toast(page, 'This month\'s estimated cost is');
                await warning.waitFor({ timeout: 120000 });
                await page.waitForTimeout(500);
                await screenshot(page, 'budget-warning');
                const warned = await toastContent(warning);
                await warning.locator('.monaco-button', { hasText: 'Show Usage' }).click({ timeout: 10000 });
                const lines = await documentShown(page, 'nexus-usage.md', new RegExp(`^\\| ${ws} \\|`));
                await page.waitForTimeout(500);
                await screenshot(page, 'budget-usage');
                budget = {
                    workspace: ws, warning: warned.message, warningButtons: warned.buttons,
                    usageRow: wrappedLine(lines, `| ${ws} |`, 8),
                    budgetLine: wrappedLine(lines, '**Budget:**'),
                };
                log('budget', JSON.stringify(budget));
                await runCommand(page, 'View: Close Editor');
                nexus('workspace', 'delete', ws, '--force');
            });
        }
        log('PASS');
    } catch (e) {
        failed = e;
        console.error('E2E FAIL:', e && e.message);
        await page.screenshot({ path: path.join(art, 'fail.png') }).catch(() => undefined);
        process.exitCode = 1;
    } finally {
        saveResult(!failed, failed ? String(failed.message || failed) : null);
        await ctx.close().catch(() => undefined);
        fs.rmSync(profile, { recursive: true, force: true });
    }
})();
