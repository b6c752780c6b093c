// The op table (src/api/op-table.ts) and the kernel lists it rests on, kept in step: the
// TypeScript kernel schemas equal the addon's native/kernels/kernel_list.h (its `_kernelSchema()`
// hook) row for row; every kernel has an op and every op a kernel, a reference kernel, a row of
// test/op-cases.ts and a documented export in each entry point (generated from the table, and
// still what the table says); and the built .d.ts shows each op's TSDoc, with its @example, to an
// editor (TypeScript's language service, through the package's "exports").
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { KERNELS, type KernelName } from '../src/api/kernel-schema';
import { OP_TABLE } from '../src/api/op-table';
import { nativeAddon } from '../src/backends/default';
import { referenceKernels } from '../src/backends/reference/index';
import * as fastnorm from '../src/index';
import * as promises from '../src/promises';
import * as reference from '../src/reference';
import { REPO_ROOT, requireNative } from './helpers';
import { OP_CASES, OP_NAMES } from './op-cases';

requireNative();

const RUNTIME = ['getNumThreads', 'info', 'setNumThreads'];
// the half-precision conversions (src/api/half.ts), the same in every entry point
const CONVERSIONS = ['fromBFloat16', 'fromFloat16', 'toBFloat16', 'toFloat16'];

describe('the kernel schemas: TypeScript (src/api/kernel-schema.ts) = native (kernel_list.h)', () => {
  const native = nativeAddon!._kernelSchema();

  it('the same kernels, in the same order', () => {
    expect(Object.keys(native)).toEqual(Object.keys(KERNELS));
  });

  it.each(Object.keys(KERNELS) as KernelName[])('%s: the same arguments, in order, with the same roles, dtypes, presence, lengths, labels', (name) => {
    // JSON normal form: absent optional keys on both sides
    expect(JSON.parse(JSON.stringify(native[name]))).toEqual(JSON.parse(JSON.stringify(KERNELS[name].fields)));
  });

  it('the addon exports every kernel, sync and Async, and the reference backend implements every one', () => {
    for (const name of Object.keys(KERNELS)) {
      expect(typeof (nativeAddon as unknown as Record<string, unknown>)[name], name).toBe('function');
      expect(typeof (nativeAddon as unknown as Record<string, unknown>)[`${name}Async`], `${name}Async`).toBe('function');
    }
    expect(Object.keys(referenceKernels).sort()).toEqual(Object.keys(KERNELS).sort());
  });
});

describe('the op table', () => {
  it('every kernel is run by exactly one op', () => {
    const kernels = OP_NAMES.map((name) => OP_TABLE[name].kernel.name);
    expect([...kernels].sort()).toEqual(Object.keys(KERNELS).sort());
    for (const name of OP_NAMES) expect(OP_TABLE[name].kernel, name).toBe(KERNELS[OP_TABLE[name].kernel.name]);
  });

  it('every op has its row in test/op-cases.ts', () => {
    expect(Object.keys(OP_CASES).sort()).toEqual([...OP_NAMES].sort());
  });

  it.each([['fastnorm', fastnorm, ['promises', 'reference']], ['fastnorm/promises', promises, []], ['fastnorm/reference', reference, []]] as const)(
    '%s exports every op of the table, the runtime functions, the conversions, and nothing else', (_entry, api, namespaces) => {
      expect(Object.keys(api).sort()).toEqual([...OP_NAMES, ...RUNTIME, ...CONVERSIONS, ...namespaces].sort());
      for (const name of [...OP_NAMES, ...CONVERSIONS]) expect(typeof (api as Record<string, unknown>)[name], name).toBe('function');
    });

  it('the entry points are what the table gives (scripts/generate-entries.mjs --check)', () => {
    const r = spawnSync(process.execPath, ['scripts/generate-entries.mjs', '--check'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
});

describe('the built .d.ts: every op with its TSDoc and @example, as an editor shows it', () => {
  const dist = path.join(REPO_ROOT, 'dist', 'cjs', 'index.d.ts');

  it.runIf(existsSync(dist)).each([['fastnorm', ''], ['fastnorm/promises', 'Returns a Promise'], ['fastnorm/reference', '']] as const)(
    "import * as f from '%s': hovering f.<op>", (specifier, note) => {
      // a consumer's file, resolved through package.json "exports" to dist/ (cwd = the repo root: self-reference)
      const file = path.join(REPO_ROOT, '__hover__.ts');
      const text = `import * as f from '${specifier}';\n${OP_NAMES.map((name) => `f.${name};`).join('\n')}\n`;
      const options: ts.CompilerOptions = { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16, strict: true };
      const host: ts.LanguageServiceHost = {
        getScriptFileNames: () => [file],
        getScriptVersion: () => '1',
        getScriptSnapshot: (f) => (f === file ? ts.ScriptSnapshot.fromString(text) : existsSync(f) ? ts.ScriptSnapshot.fromString(readFileSync(f, 'utf8')) : undefined),
        getCurrentDirectory: () => REPO_ROOT,
        getCompilationSettings: () => options,
        getDefaultLibFileName: ts.getDefaultLibFilePath,
        fileExists: (f) => f === file || existsSync(f),
        readFile: (f) => (f === file ? text : readFileSync(f, 'utf8')),
      };
      const service = ts.createLanguageService(host);
      for (const name of OP_NAMES) {
        const info = service.getQuickInfoAtPosition(file, text.indexOf(`f.${name};`) + 2);
        expect(info, name).toBeDefined();
        const doc = ts.displayPartsToString(info!.documentation);
        const example = info!.tags?.find((t) => t.name === 'example');
        expect(doc.length, `${specifier} ${name}: TSDoc`).toBeGreaterThan(20);
        expect(example && ts.displayPartsToString(example.text), `${specifier} ${name}: @example`).toMatch(new RegExp(`\\b${name}\\(`));
        if (note && OP_TABLE[name].promise === 'async') expect(doc, `${specifier} ${name}`).toContain(note);
        // the exact signature: generic in the array type where the planner is
        const signature = ts.displayPartsToString(info!.displayParts);
        expect(signature, `${specifier} ${name}`).toContain(`${name}`);
      }
    });
});
