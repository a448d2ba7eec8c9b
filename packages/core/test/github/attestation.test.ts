// Storing a bundle in GitHub's attestation store: what is stored, what is refused, what is retried.
import { describe, expect, it } from "vitest";
import { type AttestationStore, storeAttestation } from "../../src/github/attestation.js";

const target = { owner: "acme", repo: "models", serverUrl: "https://github.example.com/" };
const signed = {
  mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
  verificationMaterial: { publicKey: { hint: "abc" } },
  dsseEnvelope: {
    payloadType: "application/vnd.in-toto+json",
    payload: "e30=",
    signatures: [{ sig: "AA==" }],
  },
};
const failing = (status: number, message: string) => Object.assign(new Error(message), { status });

function store(answers: Array<{ id: number } | Error>): AttestationStore & { sent: object[] } {
  const sent: object[] = [];
  return {
    sent,
    async createAttestation(bundle) {
      sent.push(bundle);
      const a = answers.shift()!;
      if (a instanceof Error) throw a;
      return a;
    },
  };
}

describe("storeAttestation", () => {
  it("sends the bundle unchanged and names the attestation's page", async () => {
    const s = store([{ id: 7 }]);
    expect(await storeAttestation(s, signed, target)).toEqual({
      stored: true,
      id: 7,
      url: "https://github.example.com/acme/models/attestations/7",
    });
    expect(s.sent).toEqual([signed]);
  });

  it("never sends an unsigned envelope or a bundle without a signature", async () => {
    const s = store([]);
    const unsigned = { payloadType: "application/vnd.in-toto+json", payload: "e30=", signatures: [] };
    expect(await storeAttestation(s, unsigned, target)).toMatchObject({ stored: false, denied: false });
    const bare = { ...signed, dsseEnvelope: { ...signed.dsseEnvelope, signatures: [] } };
    expect(await storeAttestation(s, bare, target)).toMatchObject({
      stored: false,
      reason: expect.stringContaining("no signature"),
    });
    expect(s.sent).toEqual([]);
  });

  it.each([401, 403, 404])("HTTP %i is a refusal naming attestations: write, not retried", async (status) => {
    const s = store([failing(status, "Resource not accessible by integration - https://docs.github.com")]);
    const r = await storeAttestation(s, signed, target, { backoffMs: 1 });
    expect(r).toEqual({
      stored: false,
      denied: true,
      reason: expect.stringMatching(
        new RegExp(
          `^the token may not write attestations here \\(HTTP ${status}: Resource not accessible by integration\\): grant the job \`permissions: attestations: write\``,
        ),
      ),
    });
    expect(s.sent).toHaveLength(1);
  });

  it("retries server errors and dropped connections, then gives the last reason", async () => {
    const ok = store([failing(502, "Bad Gateway"), new Error("socket hang up"), { id: 9 }]);
    expect(await storeAttestation(ok, signed, target, { backoffMs: 1 })).toMatchObject({
      stored: true,
      id: 9,
    });
    const down = store([failing(503, "a"), failing(503, "b"), failing(503, "Service Unavailable")]);
    expect(await storeAttestation(down, signed, target, { backoffMs: 1 })).toEqual({
      stored: false,
      denied: false,
      reason: "GitHub did not store the attestation (HTTP 503: Service Unavailable)",
    });
    const invalid = store([failing(422, "Validation Failed")]);
    expect(await storeAttestation(invalid, signed, target, { backoffMs: 1 })).toMatchObject({
      stored: false,
    });
    expect(invalid.sent).toHaveLength(1);
  });
});
