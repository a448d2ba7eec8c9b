// The pull-request comment as a reader sees it: rendered in a real browser (Debian's chromium via
// @mermaid-js/mermaid-cli and puppeteer) with GitHub's markdown CSS, in the light and the dark theme.
// Checks what a reader needs: each line stands out from the background (pixels of the PNG), the
// x labels stand apart and inside the chart (text boxes in the browser), the candidate is drawn.
// The pictures are kept in test-artifacts/comment/ (CI uploads them).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { Browser, Page } from "puppeteer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHART_COLORS, type ReportInput, renderReport } from "../../src/report/index.js";
import { exampleReport, longHistoryReport, seedMatrixReport } from "./fixtures.js";

const CHROMIUM = process.env.TRACK_RUN_CHROMIUM ?? "/usr/bin/chromium";
const present = existsSync(CHROMIUM);
const root = join(import.meta.dirname, "..", "..", "..", "..");
const ARTIFACTS = join(root, "test-artifacts", "comment");
const require = createRequire(import.meta.url);

it.runIf(!present && process.env.CI === "true")("finds chromium to render the comment", () => {
  throw new Error(
    `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does) or set TRACK_RUN_CHROMIUM`,
  );
});

interface Theme {
  name: "light" | "dark";
  mermaid: "default" | "dark";
  css: string;
  background: string;
}
const THEMES: Theme[] = [
  { name: "light", mermaid: "default", css: "github-markdown-light.css", background: "#ffffff" },
  { name: "dark", mermaid: "dark", css: "github-markdown-dark.css", background: "#0d1117" },
];

const SCENARIOS: Array<{ name: string; report: () => ReportInput; charts: number; seeds?: number }> = [
  { name: "example", report: exampleReport, charts: 0 },
  { name: "five-promotions-three-seeds", report: seedMatrixReport, charts: 3, seeds: 3 },
  { name: "twelve-promotions", report: longHistoryReport, charts: 3 },
];

type Rgb = [number, number, number];
const hex = (h: string): Rgb => [1, 3, 5].map((i) => Number.parseInt(h.slice(i, i + 2), 16)) as Rgb;
const luminance = (c: Rgb) => {
  const [r, g, b] = c.map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as Rgb;
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
/** WCAG contrast ratio: 1 (none) to 21 (black on white). */
const contrast = (a: Rgb, b: Rgb) => {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p) as [number, number];
  return (x + 0.05) / (y + 0.05);
};
const distance = (a: Rgb, b: Rgb) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

/** A chart's pixels: the background (the most frequent colour) and the pixels near each line colour. */
async function pixels(png: Uint8Array, colors: readonly string[]) {
  const { PNG } = await import("pngjs");
  const img = PNG.sync.read(Buffer.from(png));
  const counts = new Map<number, number>();
  for (let i = 0; i < img.data.length; i += 4) {
    const key = (img.data[i]! << 16) | (img.data[i + 1]! << 8) | img.data[i + 2]!;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const top = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
  const background: Rgb = [(top >> 16) & 255, (top >> 8) & 255, top & 255];
  const lines = colors.map((color) => {
    const target = hex(color);
    const near: Rgb[] = [];
    for (let i = 0; i < img.data.length; i += 4) {
      const p: Rgb = [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
      if (distance(p, target) <= 24) near.push(p);
    }
    const mean = near.length
      ? (near
          .reduce((s, p) => [s[0] + p[0], s[1] + p[1], s[2] + p[2]], [0, 0, 0])
          .map((v) => Math.round(v / near.length)) as Rgb)
      : undefined;
    return { color, pixels: near.length, contrast: mean ? contrast(mean, background) : 0 };
  });
  return { background, lines };
}

interface Box {
  text: string;
  x: number;
  y: number;
  w: number;
  h: number;
}
interface ChartFacts {
  id: string;
  box: Box;
  xLabels: Box[];
  texts: Box[];
  strokes: string[];
}

/** Runs in the page: the charts' text boxes and line colours. */
const MEASURE = `(() => {
  const rect = (el) => { const r = el.getBoundingClientRect(); return { text: el.textContent ?? "", x: r.x, y: r.y, w: r.width, h: r.height }; };
  return [...document.querySelectorAll("article svg[aria-roledescription=xychart]")].map((svg) => ({
    id: svg.id,
    box: rect(svg),
    xLabels: [...svg.querySelectorAll("g.bottom-axis g.label text")].map(rect),
    texts: [...svg.querySelectorAll("text")].map(rect),
    strokes: [...svg.querySelectorAll("g.plot path")].map((p) => p.getAttribute("stroke")),
  }));
})()`;

const overlap = (a: Box, b: Box) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
const inside = (a: Box, outer: Box) =>
  a.x >= outer.x - 0.5 &&
  a.y >= outer.y - 0.5 &&
  a.x + a.w <= outer.x + outer.w + 0.5 &&
  a.y + a.h <= outer.y + outer.h + 0.5;

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

describe.runIf(present)("the pull-request comment, rendered as GitHub shows it", () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    const puppeteer = (await import("puppeteer")).default;
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1012, height: 800 });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** The comment as HTML: marked for the markdown, each mermaid block drawn by mermaid-cli. */
  async function renderPage(md: string, theme: Theme, scenario: string): Promise<void> {
    const { renderMermaid } = await import("@mermaid-js/mermaid-cli");
    const { marked } = await import("marked");
    const charts: string[] = [];
    const source = await Promise.all(
      md.split(/```mermaid\n([\s\S]*?)```/g).map(async (part, i) => {
        if (i % 2 === 0) return part;
        const { data } = await renderMermaid(browser, part, "svg", {
          mermaidConfig: { theme: theme.mermaid },
          backgroundColor: "transparent",
          svgId: `${scenario}-${theme.name}-chart-${charts.length}`,
        });
        charts.push(Buffer.from(data).toString("utf8"));
        return `\n<div class="chart" data-chart="${charts.length - 1}"></div>\n`;
      }),
    );
    let html = await marked.parse(source.join(""), { gfm: true });
    html = html.replace(
      /<div class="chart" data-chart="(\d+)"><\/div>/g,
      (_, n: string) => charts[Number(n)]!,
    );
    const css = readFileSync(require.resolve(`github-markdown-css/${theme.css}`), "utf8");
    await page.setContent(
      `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(scenario)}</title><style>${css}</style>
<style>body { margin: 0; background: ${theme.background}; } .markdown-body { box-sizing: border-box; max-width: 1012px; padding: 24px; }</style>
</head><body><article class="markdown-body">${html}</article></body></html>`,
      { waitUntil: "load" },
    );
  }

  for (const scenario of SCENARIOS) {
    for (const theme of THEMES) {
      it(`${scenario.name}, ${theme.name} theme: lines stand out, labels stand apart, the candidate is drawn`, async () => {
        const input = scenario.report();
        const md = renderReport(input);
        await renderPage(md, theme, scenario.name);
        const shot = await page.screenshot({ fullPage: true, type: "png" });
        writeFileSync(join(ARTIFACTS, `${scenario.name}-${theme.name}.png`), shot);

        // The table reads as a table, with a header over every column.
        const headers = (await page.evaluate(
          `[...document.querySelectorAll("article table th")].map((th) => th.textContent.trim())`,
        )) as string[];
        expect(headers.length).toBeGreaterThan(0);
        expect(headers.filter((h) => h === "")).toEqual([]);

        const charts = (await page.evaluate(MEASURE)) as ChartFacts[];
        expect(charts).toHaveLength(scenario.charts);
        const handles = await page.$$("article svg[aria-roledescription=xychart]");
        for (const [i, chart] of charts.entries()) {
          // Short x labels, none over another, none cut off at the chart's edge.
          expect(chart.xLabels.length).toBeGreaterThanOrEqual(3);
          for (const label of chart.xLabels) expect(label.text.length).toBeLessThanOrEqual(9);
          for (const [j, a] of chart.xLabels.entries()) {
            expect(inside(a, chart.box), `label "${a.text}" inside the chart`).toBe(true);
            const b = chart.xLabels[j + 1];
            if (b) expect(overlap(a, b), `labels "${a.text}" and "${b.text}" apart`).toBe(false);
          }
          // No text of the chart over another (title, axis titles, ticks, labels).
          for (const [j, a] of chart.texts.entries())
            for (const b of chart.texts.slice(j + 1))
              expect(overlap(a, b), `"${a.text}" and "${b.text}" apart`).toBe(false);
          // The candidate: the last x position, a line of its own colour, its spread for a seed matrix.
          expect(chart.xLabels.at(-1)?.text).toBe("candidate");
          const candidateLines = chart.strokes.filter((s) => s === CHART_COLORS.candidate).length;
          expect(candidateLines).toBe(scenario.seeds ? 3 : 1);
          expect(chart.strokes).toContain(CHART_COLORS.production);

          // Pixels: each line is drawn, visibly, with at least 3:1 contrast against what is behind it.
          const png = await handles[i]!.screenshot({ type: "png" });
          writeFileSync(join(ARTIFACTS, `${scenario.name}-${theme.name}-chart-${i}.png`), png);
          const seen = await pixels(png, [CHART_COLORS.production, CHART_COLORS.candidate]);
          expect(distance(seen.background, hex(theme.background))).toBeLessThan(8);
          for (const line of seen.lines) {
            // A 2-pixel line across at least one step of the x axis (the candidate's own segment).
            expect(line.pixels, `${line.color} drawn`).toBeGreaterThan(40);
            expect(line.contrast, `${line.color} against ${theme.background}`).toBeGreaterThanOrEqual(3);
          }
        }
        if (scenario.charts === 0) expect(md).toMatch(/_No chart yet: .*_/);
      });
    }
  }
});
