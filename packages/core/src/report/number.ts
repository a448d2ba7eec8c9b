// Numbers as people read them: a few significant digits, no float noise (0.002738, not
// 0.002738000000000018), no trailing zeros, an explicit sign for a change.

/** `x` to `digits` significant digits (default 4), trailing zeros dropped; "–" when undefined. */
export function formatNumber(x: number | undefined, digits = 4): string {
  if (x === undefined) return "–";
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return String(x);
  const fixed = x.toPrecision(digits);
  // toPrecision gives exponent notation for very small or large values: Number() tidies it.
  return fixed.includes("e") ? String(Number(fixed)) : fixed.replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
}

/** A change with its sign: +0.02, -0.03, 0. */
export const formatDelta = (x: number | undefined, digits?: number): string =>
  x !== undefined && x > 0 ? `+${formatNumber(x, digits)}` : formatNumber(x, digits);

/** "1 file", "3 files". */
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
