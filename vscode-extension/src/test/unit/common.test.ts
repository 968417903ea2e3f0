import * as assert from 'assert';
import { CancelledError, isCancellation, renderError } from '../../common/errors';
import { ClientOutputAdapter, levelOfMessageType, setLogChannel } from '../../common/logging';
import { progressReporter } from '../../common/progress';
import { expandHome, resolveSidecarCommand, splitCommandLine } from '../../common/settings';
import { responseError } from './helpers';

suite('errors', () => {
    test('a Nexus error (-32803) shows message, code and resolution', () => {
        const r = renderError('Start workspace "x"', responseError(-32803, 'DOCKER_UNAVAILABLE: ...', {
            code: 'DOCKER_UNAVAILABLE', message: 'Cannot reach the Docker engine.', resolution: 'Start Docker and retry.',
        }));
        assert.strictEqual(r.text, 'Start workspace "x" failed: Cannot reach the Docker engine. [DOCKER_UNAVAILABLE] Start Docker and retry.');
        assert.strictEqual(r.nexusCode, 'DOCKER_UNAVAILABLE');
        assert.strictEqual(r.resolution, 'Start Docker and retry.');
    });

    test('other errors and cancellations', () => {
        assert.strictEqual(renderError('X', responseError(-32602, 'name: required')).text, 'X failed: name: required');
        assert.strictEqual(renderError('X', new Error('spawn nexus-sidecar ENOENT')).text, 'X failed: spawn nexus-sidecar ENOENT');
        assert.strictEqual(renderError('X', responseError(-32803, 'no data')).text, 'X failed: no data');
        assert.ok(renderError('X', responseError(-32800, 'cancelled')).cancelled);
        assert.ok(isCancellation(new CancelledError()));
        assert.ok(!isCancellation(new Error('x')));
    });
});

suite('settings', () => {
    const nothing = (): undefined => undefined;
    test('the command setting wins, as an array or a shell-like string', () => {
        assert.deepStrictEqual(resolveSidecarCommand({ sidecarCommand: ['/opt/py', '-m', 'nexus.sidecar'], pythonPath: 'python3' }, nothing),
            { command: '/opt/py', args: ['-m', 'nexus.sidecar'], source: 'setting' });
        assert.deepStrictEqual(resolveSidecarCommand({ sidecarCommand: '~/venv/bin/python -m "nexus.sidecar"', pythonPath: '' }, nothing, '/home/u'),
            { command: '/home/u/venv/bin/python', args: ['-m', 'nexus.sidecar'], source: 'setting' });
    });

    test('then nexus-sidecar on PATH, then python -m nexus.sidecar', () => {
        assert.deepStrictEqual(resolveSidecarCommand({ sidecarCommand: [], pythonPath: 'python3' }, (e) => `/usr/bin/${e}`),
            { command: '/usr/bin/nexus-sidecar', args: [], source: 'path' });
        assert.deepStrictEqual(resolveSidecarCommand({ sidecarCommand: '  ', pythonPath: '/usr/bin/python3.12' }, nothing),
            { command: '/usr/bin/python3.12', args: ['-m', 'nexus.sidecar'], source: 'python' });
    });

    test('command line splitting', () => {
        assert.deepStrictEqual(splitCommandLine(`a "b c" 'd e' f\\ g ""`), ['a', 'b c', 'd e', 'f g', '']);
        assert.deepStrictEqual(splitCommandLine(''), []);
        assert.strictEqual(expandHome('~', '/h'), '/h');
        assert.strictEqual(expandHome('/abs', '/h'), '/abs');
    });
});

suite('progress and logging', () => {
    test('percentages become increments, end is ignored', () => {
        const seen: Array<{ message?: string; increment?: number }> = [];
        const r = progressReporter((v) => seen.push(v));
        r({ kind: 'begin', title: 'T' });
        r({ kind: 'report', percentage: 30, message: 'm' });
        r({ kind: 'report', percentage: 20 });
        r({ kind: 'report', percentage: 150 });
        r({ kind: 'end' });
        assert.deepStrictEqual(seen, [
            { message: 'T', increment: undefined },
            { message: 'm', increment: 30 },
            { message: undefined, increment: 0 },
            { message: undefined, increment: 70 },
        ]);
    });

    test('client output is routed by level; stderr goes to trace and is kept', () => {
        const lines: string[] = [];
        const channel = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error'].map((l) => [l, (m: string) => lines.push(`${l}:${m}`)]));
        setLogChannel(channel as never);
        try {
            const out = new ClientOutputAdapter();
            out.appendLine('[Error - 10:00:00] Request nexus/workspace/get failed.');
            out.append('Traceback (most recent call last):\n  File "x"');
            out.append('\nboom\n');
            assert.deepStrictEqual(lines, [
                'error:Request nexus/workspace/get failed.',
                'trace:[sidecar] Traceback (most recent call last):',
                'trace:[sidecar]   File "x"',
                'trace:[sidecar] boom',
            ]);
            assert.deepStrictEqual(out.recentStderr(), ['Traceback (most recent call last):', '  File "x"', 'boom']);
            assert.deepStrictEqual([1, 2, 3, 4, 5].map(levelOfMessageType), ['error', 'warn', 'info', 'debug', 'debug']);
        } finally {
            setLogChannel(undefined);
        }
    });
});
