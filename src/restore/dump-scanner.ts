import { Transform, type TransformCallback } from 'node:stream';
import { RestoreError } from '../errors.ts';

// What a pg_dump SQL script (plain dump, or pg_restore's script of a custom dump) says about itself,
// read line by line as it streams past, in bounded memory.
export interface DumpFacts {
  bytes: number;
  // The script starts with pg_dump's "-- PostgreSQL database dump" header.
  headerSeen: boolean;
  // It ends with "-- PostgreSQL database dump complete" (only comments and \unrestrict after it):
  // pg_dump writes it last, so a dump cut short lacks it.
  trailerSeen: boolean;
  // Tables created, as the dump names them (e.g. public."my table"), in dump order.
  tables: string[];
  // Rows loaded by COPY, per table; one COPY text line is one row.
  rows: Map<string, number>;
}

const LF = 0x0a;
const KEEP = 4096;
const HEADER = '-- PostgreSQL database dump';
const TRAILER = '-- PostgreSQL database dump complete';
const CREATE_TABLE = /^CREATE (?:UNLOGGED |FOREIGN )?TABLE (.+) \($/;
// Single-line statements of pg_dump that name roles: what pg_restore --no-owner --no-privileges skips.
const OWNERSHIP = /^(?:ALTER [A-Z ]+ .+ OWNER TO .+;|GRANT .+;|REVOKE .+;|ALTER DEFAULT PRIVILEGES .+;)$/;
const COPY = /^COPY (.+?) (?:\(.*\) )?FROM stdin;$/;

export class DumpScanner {
  readonly facts: DumpFacts = { bytes: 0, headerSeen: false, trailerSeen: false, tables: [], rows: new Map() };
  // When set, push() returns the byte ranges of ownership/privilege lines (see OWNERSHIP) that lie
  // wholly inside the chunk, for a caller that leaves them out.
  readonly #findOwnership: boolean;
  // Likewise for the BEGIN; / COMMIT; lines pg_dump writes around large objects, which would
  // otherwise end the restore's own transaction early.
  readonly #findTransactionControl: boolean;
  #drops: [number, number][] = [];
  #lineStart = 0;

  constructor(options: { findOwnership?: boolean; findTransactionControl?: boolean } = {}) {
    this.#findOwnership = options.findOwnership ?? false;
    this.#findTransactionControl = options.findTransactionControl ?? false;
  }

  // Start of a line that continues in the next chunk (only the first KEEP bytes matter) and its length.
  #carry: Buffer[] = [];
  #carryKept = 0;
  #carryLength = 0;
  #copyTable: string | undefined;
  #copyRows = 0;
  #lines = 0;

  push(chunk: Buffer): [number, number][] {
    this.facts.bytes += chunk.length;
    this.#drops = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, start);
      if (nl === -1) {
        this.#keep(chunk.subarray(start));
        return this.#drops;
      }
      this.#lineStart = this.#carryLength > 0 ? -1 : start;
      if (this.#carryLength > 0) {
        this.#keep(chunk.subarray(start, nl));
        this.#line(Buffer.concat(this.#carry), this.#carryLength);
        this.#carry = [];
        this.#carryKept = 0;
        this.#carryLength = 0;
      } else {
        this.#line(chunk.subarray(start, nl), nl - start);
      }
      start = nl + 1;
    }
  }

  // Call once at the end of the stream.
  finish(): DumpFacts {
    if (this.#carryLength > 0) this.#line(Buffer.concat(this.#carry), this.#carryLength);
    this.#carry = [];
    this.#carryLength = 0;
    if (this.#copyTable !== undefined) this.facts.trailerSeen = false;
    return this.facts;
  }

  #keep(part: Buffer): void {
    this.#carryLength += part.length;
    if (this.#carryKept < KEEP && part.length > 0) {
      const slice = Buffer.from(part.subarray(0, KEEP - this.#carryKept));
      this.#carry.push(slice);
      this.#carryKept += slice.length;
    }
  }

  // `line` holds at most the line's first KEEP bytes; `length` is its full length.
  #line(line: Buffer, length: number): void {
    this.#lines += 1;
    if (this.#copyTable !== undefined) {
      if (length === 2 && line[0] === 0x5c && line[1] === 0x2e) {
        this.facts.rows.set(this.#copyTable, (this.facts.rows.get(this.#copyTable) ?? 0) + this.#copyRows);
        this.#copyTable = undefined;
      } else {
        this.#copyRows += 1;
      }
      return;
    }
    if (length === 0) return;
    const first = line[0];
    const ownership = this.#findOwnership && (first === 0x41 || first === 0x47 || first === 0x52);
    if (this.#findTransactionControl && (length === 6 || length === 7) && this.#lineStart >= 0) {
      const word = line.toString('latin1');
      if (word === 'BEGIN;' || word === 'COMMIT;') {
        this.#drops.push([this.#lineStart, this.#lineStart + length + 1]);
        return;
      }
    }
    // Only lines starting with '-', 'C' or '\' matter outside COPY data; skip decoding the rest.
    if (first !== 0x2d && first !== 0x43 && first !== 0x5c && !ownership) {
      this.facts.trailerSeen = false;
      return;
    }
    const text = line.toString('utf8').replace(/\r$/, '');
    if (ownership) {
      this.facts.trailerSeen = false;
      if (this.#lineStart >= 0 && length === line.length && OWNERSHIP.test(text)) this.#drops.push([this.#lineStart, this.#lineStart + length + 1]);
      return;
    }
    if (first === 0x2d) {
      if (text === HEADER && this.#lines <= 5) this.facts.headerSeen = true;
      else if (text === TRAILER) this.facts.trailerSeen = true;
      return;
    }
    if (first === 0x5c) {
      // psql meta-commands: \restrict / \unrestrict (pg_dump 15.14+) may follow the trailer.
      if (!/^\\(un)?restrict\b/.test(text)) this.facts.trailerSeen = false;
      return;
    }
    this.facts.trailerSeen = false;
    const copy = COPY.exec(text);
    if (copy?.[1] !== undefined) {
      this.#copyTable = copy[1];
      this.#copyRows = 0;
      if (!this.facts.rows.has(copy[1])) this.facts.rows.set(copy[1], 0);
      return;
    }
    const create = CREATE_TABLE.exec(text);
    if (create?.[1] !== undefined) this.facts.tables.push(create[1]);
  }
}

export interface ScanOptions {
  // Fail the stream at its end when the completion trailer is missing (restores: no COMMIT then).
  requireTrailer: boolean;
  label: string;
  // Leave out ALTER ... OWNER TO, GRANT, REVOKE and ALTER DEFAULT PRIVILEGES lines (outside COPY data):
  // a plain dump's equivalent of pg_restore --no-owner --no-privileges, for servers without the roles.
  skipOwnership?: boolean;
  // Leave out the script's own BEGIN; and COMMIT; lines (outside COPY data): the restore runs in one
  // transaction of its own, which they would commit early.
  skipTransactionControl?: boolean;
}

// A stage that scans the script as it passes (`facts` is complete once the stream ended), and with
// skipOwnership / skipTransactionControl also leaves those lines out (it then passes whole lines only).
export function createDumpScanStream(options: ScanOptions): { stream: Transform; scanner: DumpScanner } {
  const skip = (options.skipOwnership ?? false) || (options.skipTransactionControl ?? false);
  const scanner = new DumpScanner({ findOwnership: options.skipOwnership ?? false, findTransactionControl: options.skipTransactionControl ?? false });
  let rest: Buffer | undefined;
  const emit = (stream: Transform, data: Buffer) => {
    const drops = scanner.push(data);
    let from = 0;
    for (const [start, end] of drops) {
      if (start > from) stream.push(data.subarray(from, start));
      from = end;
    }
    if (from < data.length) stream.push(from === 0 ? data : data.subarray(from));
  };
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!skip) {
        scanner.push(chunk);
        callback(null, chunk);
        return;
      }
      // Hold back the unfinished last line, so every line is judged whole.
      const data = rest ? Buffer.concat([rest, chunk]) : chunk;
      const last = data.lastIndexOf(LF);
      if (last === -1) {
        rest = data;
      } else {
        rest = last + 1 < data.length ? Buffer.from(data.subarray(last + 1)) : undefined;
        emit(this, data.subarray(0, last + 1));
      }
      callback();
    },
    flush(callback: TransformCallback) {
      if (rest) emit(this, rest);
      const facts = scanner.finish();
      if (options.requireTrailer && !facts.trailerSeen) {
        callback(
          new RestoreError(`${options.label} ends without pg_dump's "${TRAILER}" trailer: the dump is truncated or is not a complete pg_dump script`, {
            hint: 'nothing was committed; use an older backup, and check the backup job\'s logs for the run that wrote this one',
          }),
        );
        return;
      }
      callback();
    },
  });
  return { stream, scanner };
}
