// What the dashboard logs through: codes and counts only (pino's Logger fits).
export interface DashboardLog {
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
}

export const quietLog: DashboardLog = { info: () => undefined, warn: () => undefined };
