// Object keys come from storage that any tool with write access can fill. Shown to a person as they
// are (a terminal, `check` output, Slack, e-mail), a key holding a newline could fake a line of output
// and one holding ESC could drive the terminal. Every place that shows a key to a person goes through
// this: control characters become visible escapes (\n, \r, \t, \x1b, \x7f, \x9b), as do the Unicode
// line separators and bidirectional overrides that reorder or break what is displayed. An ordinary key
// is returned unchanged, so it can still be copied into `restore <key>`. JSON output needs none of this:
// JSON.stringify escapes control characters itself.

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

// C0 controls, DEL, C1 controls; U+061C, U+200E/U+200F (direction marks), U+2028/U+2029 (line and
// paragraph separators), U+202A-U+202E and U+2066-U+2069 (bidirectional embeddings, overrides, isolates).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function printableKey(key: string): string {
  return key.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named !== undefined) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

// UNSAFE without the C0 controls: JSON.stringify escapes those inside strings, and its own line breaks
// must stay. What is left can only occur inside strings, so escaping it keeps the JSON valid.
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

// JSON text for people's screens too (/status, /health, `check --json`, `list --json`): the same data
// (keys stay exact), with the characters JSON.stringify leaves raw (DEL, C1 controls, separators, bidi
// overrides) written as \u escapes; JSON.stringify already escapes the rest.
export function stringifyJsonSafely(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
