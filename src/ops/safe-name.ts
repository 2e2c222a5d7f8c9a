// File names as they may be printed: control characters (newlines, ANSI escapes, C1 controls, bidi overrides)
// escaped, so a hostile name cannot fake a console line or repaint the terminal.

/** Escapes everything that is not a printable character as \xNN or \u{...}. */
export function printable(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffd]/gu, (c) => {
    const cp = c.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
  });
}

/** The name for consoles and logs. */
export function safeName(name: string): string {
  return printable(name);
}
