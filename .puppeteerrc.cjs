// Puppeteer (through @mermaid-js/mermaid-cli, for the comment's browser test) never downloads a
// browser: it runs Debian's chromium (.ci/run installs it), which the test names itself.
module.exports = { skipDownload: true };
