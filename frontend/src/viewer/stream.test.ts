import { describe, expect, it } from "vitest";
import { boundaryOf, indexOf, MultipartReader } from "./multipart";
import { slicePixels } from "./part10";

const enc = new TextEncoder();

function multipart(boundary: string, bodies: Uint8Array[], withLength: boolean): Uint8Array {
  const pieces: Uint8Array[] = [];
  for (const body of bodies) {
    const length = withLength ? `Content-Length: ${body.length}\r\n` : "";
    pieces.push(enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n${length}\r\n`), body, enc.encode("\r\n"));
  }
  pieces.push(enc.encode(`--${boundary}--\r\n`));
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of pieces) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function feed(body: Uint8Array, boundary: string, chunk: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const reader = new MultipartReader(boundary, (part) => parts.push(part.slice()));
  for (let i = 0; i < body.length; i += chunk) reader.push(body.subarray(i, i + chunk));
  return parts;
}

describe("MultipartReader", () => {
  const bodies = [enc.encode("first\r\n--not-the-boundary"), new Uint8Array(1000).fill(7), enc.encode("x")];

  it.each([1, 3, 17, 4096])("splits parts whatever the chunking (%i bytes)", (chunk) => {
    for (const withLength of [true, false]) {
      const parts = feed(multipart("b0undary", bodies, withLength), "b0undary", chunk);
      expect(parts.map((p) => p.length)).toEqual(bodies.map((b) => b.length));
      expect(new TextDecoder().decode(parts[0])).toBe("first\r\n--not-the-boundary");
      expect(parts[1]!.every((v) => v === 7)).toBe(true);
    }
  });

  it("reads the boundary from the content type", () => {
    expect(boundaryOf('multipart/related; type="application/dicom"; boundary=abc-123')).toBe("abc-123");
    expect(boundaryOf('multipart/related; boundary="q q"')).toBe("q q");
    expect(boundaryOf("application/json")).toBeNull();
    expect(indexOf(enc.encode("abcabd"), enc.encode("abd"), 0)).toBe(3);
  });
});

/** A minimal explicit-VR little-endian Part-10 file: 2×3 signed pixels. */
function part10(syntax: string, pixels: number[]): Uint8Array {
  const bytes: number[] = [...new Array(128).fill(0), ...enc.encode("DICM")];
  const element = (group: number, el: number, vr: string, value: number[]): void => {
    const long = ["OB", "OW", "SQ", "UN", "UT"].includes(vr);
    bytes.push(group & 255, group >> 8, el & 255, el >> 8, vr.charCodeAt(0), vr.charCodeAt(1));
    if (long) bytes.push(0, 0, value.length & 255, (value.length >> 8) & 255, 0, 0);
    else bytes.push(value.length & 255, value.length >> 8);
    bytes.push(...value);
  };
  const text = (s: string, pad: string): number[] => [...enc.encode(s.length % 2 ? s + pad : s)];
  const us = (v: number): number[] => [v & 255, v >> 8];
  element(0x0002, 0x0010, "UI", text(syntax, "\0"));
  element(0x0008, 0x0018, "UI", text("1.2.3", "\0"));
  element(0x0028, 0x0002, "US", us(1));
  element(0x0028, 0x0010, "US", us(2));
  element(0x0028, 0x0011, "US", us(3));
  element(0x0028, 0x0100, "US", us(16));
  element(0x0028, 0x0103, "US", us(1));
  element(0x0028, 0x1052, "DS", text("-1024", " "));
  element(0x0028, 0x1053, "DS", text("2", " "));
  element(0x7fe0, 0x0010, "OW", pixels.flatMap((v) => us(v & 0xffff)));
  return Uint8Array.from(bytes);
}

describe("slicePixels", () => {
  it("reads an uncompressed slice into HU", () => {
    const slice = slicePixels(part10("1.2.840.10008.1.2.1", [0, 1, 2, 512, 1000, -5]));
    expect(slice).toMatchObject({ sopInstanceUid: "1.2.3", rows: 2, columns: 3 });
    expect(Array.from(slice.hu)).toEqual([-1024, -1022, -1020, 0, 976, -1034]);
  });

  it("refuses compressed transfer syntaxes", () => {
    expect(() => slicePixels(part10("1.2.840.10008.1.2.4.90", [0, 0, 0, 0, 0, 0]))).toThrow(/compressed/);
  });
});

describe("quick metadata", async () => {
  const { knownSlices, synthesiseMetadata } = await import("./quickMetadata");
  const template = {
    "00080018": { vr: "UI", Value: ["t"] },
    "00200032": { vr: "DS", Value: [-100, -120, 7] },
    "00200037": { vr: "DS", Value: [1, 0, 0, 0, 1, 0] },
    "00281052": { vr: "DS", Value: [-1024] },
  };
  const labels = { slice_count: 3, slice_sop_instance_uids: ["a", "b", "c"], slice_positions_mm: [10, 5, 0] };

  it("clones one instance per known slice with its own UID and z", () => {
    const known = knownSlices(labels)!;
    const items = synthesiseMetadata(template, known)!;
    expect(items.map((i) => i["00080018"]?.Value?.[0])).toEqual(["a", "b", "c"]);
    expect(items[2]!["00200032"]?.Value).toEqual([-100, -120, 0]);
    expect(items[1]!["00281052"]).toBe(template["00281052"]);
  });

  it("declines without a complete slice list or for non-axial series", () => {
    expect(knownSlices({ ...labels, slice_sop_instance_uids: [] })).toBeNull();
    expect(knownSlices(null)).toBeNull();
    const sagittal = { ...template, "00200037": { vr: "DS", Value: [0, 1, 0, 0, 0, -1] } };
    expect(synthesiseMetadata(sagittal, knownSlices(labels)!)).toBeNull();
  });

  it("reads the slices the page names, and ignores anything malformed", async () => {
    const { pageKnownSlices } = await import("./quickMetadata");
    const page = pageKnownSlices(JSON.stringify({ sops: ["a", "b"], positions: [0, -5] }));
    expect(page).toEqual({ sopInstanceUids: ["a", "b"], positionsMm: [0, -5] });
    expect(pageKnownSlices(undefined)).toBeNull();
    expect(pageKnownSlices("")).toBeNull();
    expect(pageKnownSlices("{not json")).toBeNull();
    expect(pageKnownSlices(JSON.stringify({ sops: ["a", "b"], positions: [0] }))).toBeNull();
    expect(pageKnownSlices(JSON.stringify({ sops: ["a", 2], positions: [0, 1] }))).toBeNull();
    const shape = { rows: 512, columns: 512, orientation: [1, 0, 0, 0, 1, 0] };
    expect(pageKnownSlices(JSON.stringify({ sops: ["a", "b"], positions: [0, -5], ...shape }))?.shape).toEqual(shape);
    expect(pageKnownSlices(JSON.stringify({ sops: ["a", "b"], positions: [0, -5], rows: 1 }))?.shape).toBeUndefined();
  });
});
