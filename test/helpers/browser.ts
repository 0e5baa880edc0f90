import fs from 'node:fs';

// Debian's chromium (`apt-get install chromium`), driven by playwright-core: no browser download.
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// A reason to skip browser tests when chromium is not installed (the README's install line has it).
export function chromiumMissing(): string | false {
  return fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium, or set CHROMIUM_PATH)`;
}
