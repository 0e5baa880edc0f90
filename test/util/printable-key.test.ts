import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { printableKey } from '../../src/util/printable-key.ts';

describe('printableKey', () => {
  it('returns an ordinary key unchanged, so it can be copied into a command', () => {
    for (const key of ['db/backup-2026-01-25_03-00-00.sql.gz', 'a b/ünïcode-日本.dump', 'back\\slash', '']) assert.equal(printableKey(key), key);
  });

  it('escapes line breaks, tabs, ESC, DEL, C1 controls, Unicode separators and bidi overrides', () => {
    assert.equal(printableKey('db/x\nFAKE LINE.sql'), 'db/x\\nFAKE LINE.sql');
    assert.equal(printableKey('a\r\tb'), 'a\\r\\tb');
    assert.equal(printableKey('\u001b[31mred\u001b[0m'), '\\x1b[31mred\\x1b[0m');
    assert.equal(printableKey('nul\u0000del\u007fcsi\u009b'), 'nul\\x00del\\x7fcsi\\x9b');
    assert.equal(printableKey('ls\u2028ps\u2029'), 'ls\\u2028ps\\u2029');
    assert.equal(printableKey('evil\u202egp.sql'), 'evil\\u202egp.sql');
    assert.equal(printableKey('iso\u2066late\u2069'), 'iso\\u2066late\\u2069');
  });

  it('leaves no character below U+0020 or in U+007F-U+009F in its output', () => {
    let all = '';
    for (let c = 0; c < 0xa0; c++) all += String.fromCharCode(c);
    assert.doesNotMatch(printableKey(all), /[\u0000-\u001f\u007f-\u009f]/);
  });
});
