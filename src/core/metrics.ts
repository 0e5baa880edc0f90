// Every metric this service exports starts with this prefix; dashboards and alert rules select on it,
// so it is declared once and never changes.
export const METRIC_PREFIX = 'backup_sentinel_';
