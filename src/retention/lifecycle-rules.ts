// Pure decisions about a bucket's lifecycle rules: which rule is ours, whether the rules that apply to
// our prefix expire it after RETENTION_DAYS, and how to merge our rule into the existing ones without
// touching anybody else's. No I/O here; lifecycle.ts reads and writes the rules.

// The fields of an S3 lifecycle rule this module reads (a structural subset of the SDK's LifecycleRule,
// so real rules pass through unchanged, including fields we do not know).
export interface RuleView {
  ID?: string | undefined;
  Status?: string | undefined;
  // Legacy (pre-Filter) form of the prefix.
  Prefix?: string | undefined;
  Filter?:
    | {
        Prefix?: string | undefined;
        Tag?: unknown;
        ObjectSizeGreaterThan?: number | undefined;
        ObjectSizeLessThan?: number | undefined;
        And?:
          | {
              Prefix?: string | undefined;
              Tags?: unknown[] | undefined;
              ObjectSizeGreaterThan?: number | undefined;
              ObjectSizeLessThan?: number | undefined;
            }
          | undefined;
      }
    | undefined;
  Expiration?: { Days?: number | undefined; Date?: Date | undefined; ExpiredObjectDeleteMarker?: boolean | undefined } | undefined;
  AbortIncompleteMultipartUpload?: { DaysAfterInitiation?: number | undefined } | undefined;
}

// The rule backup-sentinel puts: prefix-only filter (the only filter R2 supports), expiry, and abort of
// multipart uploads left behind by a crashed upload.
interface OurRule {
  ID: string;
  Status: 'Enabled';
  Filter: { Prefix: string };
  Expiration: { Days: number };
  AbortIncompleteMultipartUpload: { DaysAfterInitiation: number };
}

// Incomplete multipart uploads of our prefix are aborted after this many days (R2's bucket default is 7).
export const ABORT_MULTIPART_DAYS = 3;
// S3 and R2 allow at most 1000 rules per bucket.
const MAX_RULES = 1000;
const RULE_ID_PREFIX = 'backup-sentinel:';

// Our rule's ID names the prefix, so several services sharing a bucket (one subfolder each) each own one.
export function ourRuleId(keyPrefix: string): string {
  return `${RULE_ID_PREFIX}${keyPrefix}`.slice(0, 255);
}

function buildOurRule(keyPrefix: string, days: number): OurRule {
  return {
    ID: ourRuleId(keyPrefix),
    Status: 'Enabled',
    Filter: { Prefix: keyPrefix },
    Expiration: { Days: days },
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: ABORT_MULTIPART_DAYS },
  };
}

// The key prefix a rule applies to, and whether tags or sizes narrow it to a subset of those keys.
function ruleScope(rule: RuleView): { prefix: string; narrowed: boolean } {
  const filter = rule.Filter;
  if (filter === undefined) return { prefix: rule.Prefix ?? '', narrowed: false };
  const and = filter.And;
  if (and !== undefined) {
    const narrowed = (and.Tags?.length ?? 0) > 0 || and.ObjectSizeGreaterThan !== undefined || and.ObjectSizeLessThan !== undefined;
    return { prefix: and.Prefix ?? '', narrowed };
  }
  const narrowed = filter.Tag !== undefined || filter.ObjectSizeGreaterThan !== undefined || filter.ObjectSizeLessThan !== undefined;
  return { prefix: filter.Prefix ?? rule.Prefix ?? '', narrowed };
}

// R2 accepts rules without Status (meaning enabled); S3 always returns one.
function isEnabled(rule: RuleView): boolean {
  return rule.Status === undefined || rule.Status.toLowerCase() === 'enabled';
}

// True when the rule applies to every key that starts with keyPrefix.
function coversPrefix(rule: RuleView, keyPrefix: string): boolean {
  const scope = ruleScope(rule);
  return !scope.narrowed && keyPrefix.startsWith(scope.prefix);
}

export type RuleState = 'ok' | 'missing' | 'disabled' | 'days_differ';

export interface LifecycleEvaluation {
  state: RuleState;
  expectedDays: number;
  // Days after which our backups expire: the shortest enabled rule that covers our prefix.
  effectiveDays: number | undefined;
  // The rule that decides the state (ours when it exists and decides), for messages.
  ruleId: string | undefined;
  ours: boolean;
  // One line for people, e.g. 'rule "x" expires "backup-" after 7 days, RETENTION_DAYS is 30'.
  detail: string;
}

// Judges whether the bucket's rules expire our prefix after `days`: missing, disabled, days differ, or ok.
export function evaluateRules(rules: readonly RuleView[], keyPrefix: string, days: number): LifecycleEvaluation {
  const id = ourRuleId(keyPrefix);
  const covering = rules.filter((r) => coversPrefix(r, keyPrefix) && r.Expiration !== undefined && (r.Expiration.Days !== undefined || r.Expiration.Date !== undefined));
  const enabled = covering.filter(isEnabled);
  const base = { expectedDays: days };
  const name = (r: RuleView | undefined) => (r?.ID === undefined ? 'without ID' : `"${r.ID}"`);
  const dated = enabled.find((r) => r.Expiration?.Date !== undefined);
  if (dated !== undefined) {
    return {
      ...base,
      state: 'days_differ',
      effectiveDays: undefined,
      ruleId: dated.ID,
      ours: dated.ID === id,
      detail: `rule ${name(dated)} expires "${keyPrefix}" on a fixed date (${dated.Expiration?.Date?.toISOString() ?? '?'}), not after ${days} days`,
    };
  }
  if (enabled.length === 0) {
    const disabled = covering.find((r) => r.ID === id) ?? covering[0];
    if (disabled !== undefined) {
      return {
        ...base,
        state: 'disabled',
        effectiveDays: undefined,
        ruleId: disabled.ID,
        ours: disabled.ID === id,
        detail: `rule ${name(disabled)} for "${keyPrefix}" is disabled`,
      };
    }
    return { ...base, state: 'missing', effectiveDays: undefined, ruleId: undefined, ours: false, detail: `no lifecycle rule expires "${keyPrefix}"` };
  }
  const shortest = Math.min(...enabled.map((r) => r.Expiration?.Days ?? Infinity));
  const deciding = enabled.find((r) => r.ID === id && r.Expiration?.Days === shortest) ?? enabled.find((r) => r.Expiration?.Days === shortest);
  const ours = deciding?.ID === id;
  if (shortest === days) {
    return { ...base, state: 'ok', effectiveDays: shortest, ruleId: deciding?.ID, ours, detail: `rule ${name(deciding)} expires "${keyPrefix}" after ${days} days` };
  }
  return {
    ...base,
    state: 'days_differ',
    effectiveDays: shortest,
    ruleId: deciding?.ID,
    ours,
    detail: `rule ${name(deciding)} expires "${keyPrefix}" after ${shortest} days, RETENTION_DAYS is ${days}`,
  };
}

export type MergePlan<R extends RuleView> =
  | { action: 'none'; rules: readonly R[]; reason: string }
  | { action: 'put'; rules: (R | OurRule)[]; reason: string }
  | { action: 'refuse'; reason: string };

// Decides the rules to put so that our prefix expires after `days`: our rule (by ID) is added or
// updated in place; every other rule is kept exactly as it is and in its place. A hand-made rule
// that already expires exactly our prefix after `days` is accepted as is (nothing to put).
export function mergeRules<R extends RuleView>(existing: readonly R[], keyPrefix: string, days: number): MergePlan<R> {
  if (keyPrefix === '') {
    return {
      action: 'refuse',
      reason: 'the backup key prefix is empty, so a lifecycle rule would expire the whole bucket; set BACKUP_FILE_PREFIX or BUCKET_SUBFOLDER',
    };
  }
  const id = ourRuleId(keyPrefix);
  const wanted = buildOurRule(keyPrefix, days);
  const index = existing.findIndex((r) => r.ID === id);
  const current = existing[index];
  if (current === undefined) {
    const handMade = existing.find(
      (r) => isEnabled(r) && !ruleScope(r).narrowed && ruleScope(r).prefix === keyPrefix && r.Expiration?.Days === days && r.Expiration.Date === undefined,
    );
    if (handMade !== undefined) {
      return { action: 'none', rules: existing, reason: `rule "${handMade.ID ?? '(no ID)'}" already expires "${keyPrefix}" after ${days} days` };
    }
    if (existing.length >= MAX_RULES) {
      return { action: 'refuse', reason: `the bucket already has ${existing.length} lifecycle rules, the most S3 and R2 allow` };
    }
    return { action: 'put', rules: [...existing, wanted], reason: `adding rule "${id}": expire "${keyPrefix}" after ${days} days` };
  }
  if (isSameRule(current, wanted)) return { action: 'none', rules: existing, reason: `rule "${id}" is up to date` };
  // Keep fields someone added to our rule (e.g. a storage-class transition); replace the ones we own.
  const { Prefix: _legacyPrefix, ...rest } = current;
  const updated = { ...rest, ...wanted } as R | OurRule;
  const rules: (R | OurRule)[] = existing.map((r, i) => (i === index ? updated : r));
  return { action: 'put', rules, reason: `updating rule "${id}": ${describeChange(current, wanted)}` };
}

function isSameRule(rule: RuleView, wanted: OurRule): boolean {
  const scope = ruleScope(rule);
  return (
    rule.Status === 'Enabled' &&
    rule.Prefix === undefined &&
    !scope.narrowed &&
    rule.Filter?.Prefix === wanted.Filter.Prefix &&
    rule.Expiration?.Days === wanted.Expiration.Days &&
    rule.Expiration.Date === undefined &&
    rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation === wanted.AbortIncompleteMultipartUpload.DaysAfterInitiation
  );
}

function describeChange(rule: RuleView, wanted: OurRule): string {
  const changes: string[] = [];
  if (!isEnabled(rule) || rule.Status !== 'Enabled') changes.push(`status ${rule.Status ?? '(none)'} -> Enabled`);
  if (rule.Expiration?.Days !== wanted.Expiration.Days) changes.push(`days ${rule.Expiration?.Days ?? '(none)'} -> ${wanted.Expiration.Days}`);
  if (ruleScope(rule).prefix !== wanted.Filter.Prefix || ruleScope(rule).narrowed) changes.push(`filter -> prefix "${wanted.Filter.Prefix}"`);
  if (rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation !== wanted.AbortIncompleteMultipartUpload.DaysAfterInitiation) {
    changes.push(`abort incomplete uploads after ${wanted.AbortIncompleteMultipartUpload.DaysAfterInitiation} days`);
  }
  return changes.length > 0 ? changes.join(', ') : 'normalising its form';
}

// With retention tiers a lifecycle rule is harmful: it only knows age, so it expires the monthly and
// yearly backups the tiers keep. The rules that would do that to our prefix, for the retention finding.
export function rulesExpiringPrefix(rules: readonly RuleView[], keyPrefix: string): { ruleId: string | undefined; ours: boolean; detail: string }[] {
  const id = ourRuleId(keyPrefix);
  return rules
    .filter((r) => isEnabled(r) && coversPrefix(r, keyPrefix) && (r.Expiration?.Days !== undefined || r.Expiration?.Date !== undefined))
    .map((r) => ({
      ruleId: r.ID,
      ours: r.ID === id,
      detail: `rule ${r.ID === undefined ? 'without ID' : `"${r.ID}"`} expires "${keyPrefix}" ${r.Expiration?.Days !== undefined ? `after ${r.Expiration.Days} days` : 'on a fixed date'}`,
    }));
}

// The rules without ours (by ID), or undefined when ours is not there: with tiers, managing our rule
// means removing it. Every other rule stays exactly as it is and in its place.
export function withoutOurRule<R extends RuleView>(existing: readonly R[], keyPrefix: string): R[] | undefined {
  const id = ourRuleId(keyPrefix);
  return existing.some((r) => r.ID === id) ? existing.filter((r) => r.ID !== id) : undefined;
}
