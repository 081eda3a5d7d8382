// A streaming RFC 4180 reader with the leniencies of the Rust `csv` crate
// the gateway's verifier uses: rows end in CRLF, LF or CR; empty lines are
// skipped; a quoted cell may hold commas, quotes (doubled) and line ends.

/** One row and the line it starts on (from 1). */
export interface CsvRow {
  cells: string[];
  line: number;
}

/** Splits text fed in pieces into rows. */
export class CsvReader {
  private cells: string[] = [];
  private cell = "";
  private state: "record_start" | "field_start" | "unquoted" | "quoted" | "quote_in_quoted" | "cr" = "record_start";
  private line = 1;
  private rowLine = 1;

  /** Feeds text; answers the rows it completes. */
  feed(text: string): CsvRow[] {
    const rows: CsvRow[] = [];
    for (let i = 0; i < text.length; i += 1) {
      const c = text[i]!;
      switch (this.state) {
        case "cr":
          this.state = "record_start";
          if (c === "\n") {
            break; // CRLF: one line end
          }
        // falls through: a bare CR ended the row
        case "record_start":
          if (c === "\r") {
            this.line += 1;
            this.state = "cr";
            break;
          }
          if (c === "\n") {
            this.line += 1;
            break; // empty lines are skipped
          }
          this.rowLine = this.line;
          this.state = "field_start";
          i -= 1;
          break;
        case "field_start":
          if (c === '"') this.state = "quoted";
          else {
            this.state = "unquoted";
            i -= 1;
          }
          break;
        case "unquoted":
        case "quote_in_quoted":
          if (c === ",") {
            this.endCell();
            this.state = "field_start";
          } else if (c === "\n" || c === "\r") {
            this.endCell();
            rows.push(this.endRow());
            this.line += 1;
            this.state = c === "\r" ? "cr" : "record_start";
          } else if (this.state === "quote_in_quoted" && c === '"') {
            this.cell += '"';
            this.state = "quoted";
          } else {
            this.cell += c;
            this.state = "unquoted";
          }
          break;
        case "quoted":
          if (c === '"') this.state = "quote_in_quoted";
          else {
            if (c === "\n") this.line += 1;
            this.cell += c;
          }
          break;
      }
    }
    return rows;
  }

  /** Ends the input; answers the last row if it had no line end. */
  end(): CsvRow[] {
    if (this.state === "record_start" || this.state === "cr") return [];
    this.endCell();
    this.state = "record_start";
    return [this.endRow()];
  }

  /** The current line (for failures at the end). */
  get currentLine(): number {
    return this.line;
  }

  private endCell(): void {
    this.cells.push(this.cell);
    this.cell = "";
  }

  private endRow(): CsvRow {
    const row = { cells: this.cells, line: this.rowLine };
    this.cells = [];
    return row;
  }
}
