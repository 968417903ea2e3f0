/**
 * The monthly budget, seen before it bites: a warning when the month's estimated cost crosses the
 * budget's warning line or the budget itself (`nexus/budget/didChange`), with "Show Usage".
 */
import type { Disposable, NexusClient } from '../common/client';
import { log } from '../common/logging';
import type { BudgetDidChangeParams } from '../common/protocol';
import { executeCommand, showWarningMessage } from '../common/vscodeapi';

export const SHOW_USAGE = 'Show Usage';

function money(value: number, currency: string): string {
    return `${value.toFixed(2)} ${currency}`;
}

/** The warning for a budget that needs the user; undefined when it does not. */
export function budgetMessage(p: BudgetDidChangeParams): string | undefined {
    if (p.monthly === null || (p.state !== 'warn' && p.state !== 'exceeded')) {
        return undefined;
    }
    const spent = `This month's estimated cost is ${money(p.cost, p.currency)}, ${Math.round(p.usedPercent ?? 0)} % of the ${money(p.monthly, p.currency)} budget`;
    return p.state === 'exceeded'
        ? `${spent}. Creating or starting a workspace now asks first (it goes over the budget).`
        : `${spent} (forecast to the end of the month: ${money(p.forecast, p.currency)}).`;
}

export class BudgetAlerts implements Disposable {
    private readonly sub: Disposable;

    constructor(client: NexusClient) {
        this.sub = client.onNotification('nexus/budget/didChange', (p) => void this.observe(p));
    }

    private async observe(p: BudgetDidChangeParams): Promise<void> {
        log.info(`budget: ${p.previousState ?? '-'} -> ${p.state}`);
        const message = budgetMessage(p);
        if (message && (await showWarningMessage(message, {}, SHOW_USAGE)) === SHOW_USAGE) {
            await executeCommand('nexus.showUsage');
        }
    }

    dispose(): void {
        this.sub.dispose();
    }
}
