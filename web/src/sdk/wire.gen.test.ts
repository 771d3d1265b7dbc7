import { readFileSync } from 'node:fs';
import { OUTPUT, collectSchemas, renderFromDisk, renderWire } from '../../scripts/gen-wire.mjs';

const doc = (schemas: Record<string, unknown>) => ({ components: { schemas } });

describe('wire.gen.ts', () => {
  it('is generated from the schemas in docs/api (run `npm run gen:wire` when this fails)', () => {
    expect(readFileSync(OUTPUT, 'utf8')).toBe(renderFromDisk());
  });
});

describe('gen-wire', () => {
  const render = (schemas: Record<string, unknown>) => renderWire([['a.json', doc(schemas)]], ['a.json']);

  it('renders required, optional, nullable, formats and refs', () => {
    const out = render({
      Thing: {
        type: 'object',
        properties: {
          id: { type: 'string', format: 'uuid' },
          at: { type: ['string', 'null'], format: 'date-time' },
          tags: { type: 'array', items: { $ref: '#/components/schemas/Tag' }, default: [] },
          counts: { type: 'object', additionalProperties: { type: 'integer' } },
        },
        required: ['id'],
      },
      Tag: { type: 'string', enum: ['a', 'b'] },
    });
    expect(out).toContain("export type Tag = 'a' | 'b';");
    expect(out).toContain("export const TagValues = ['a', 'b'] as const;");
    expect(out).toContain('  id: Uuid;\n');
    expect(out).toContain('  at?: Timestamp | null;\n');
    expect(out).toContain('  tags?: Tag[];\n');
    expect(out).toContain('  counts?: Record<string, number>;\n');
  });

  it('names the tags of a tagged union', () => {
    const out = render({
      Frame: {
        oneOf: [
          { type: 'object', properties: { type: { type: 'string', const: 'x' } }, required: ['type'] },
          { type: 'object', properties: { type: { type: 'string', const: 'y' } }, required: ['type'] },
        ],
      },
    });
    expect(out).toContain("export const FrameTypes = ['x', 'y'] as const;");
    expect(out).toContain("  | {\n      type: 'x';\n    }\n");
  });

  it('keeps the properties beside the alternatives of a flattened enum', () => {
    const out = render({
      Cmd: {
        type: 'object',
        properties: { id: { type: 'string' }, action: { type: 'string' } },
        required: ['id'],
        oneOf: [
          { type: 'object', properties: { action: { type: 'string', const: 'a' }, x: { type: 'integer' } }, required: ['action', 'x'] },
          { type: 'object', properties: { action: { type: 'string', const: 'b' } }, required: ['action'] },
        ],
      },
    });
    expect(out).toContain('export type Cmd = {\n  id: string;\n  action?: string;\n} & (\n  | {\n');
    expect(out).toContain("      action: 'b';\n    }\n);\n");
  });

  it('refuses what it cannot express instead of loosening the type', () => {
    expect(() => render({ A: { type: 'string', pattern: '^a' } })).toThrow(/A: unsupported keyword pattern/);
    expect(() => render({ A: { $ref: '#/components/schemas/Missing' } })).toThrow(/dangling/);
    expect(() => render({ A: { $ref: '#/components/schemas/A', properties: {} } })).toThrow(/\$ref beside properties/);
    expect(() => render({ A: { type: 'object', properties: {}, required: ['x'] } })).toThrow(/required x/);
    expect(() => render({ A: { oneOf: [{ type: 'string' }], anyOf: [{ type: 'null' }] } })).toThrow(/both oneOf and anyOf/);
    expect(() => render({ A: { type: 'object', properties: { x: { type: 'string' } }, additionalProperties: { type: 'string' } } })).toThrow(
      /additionalProperties beside properties/,
    );
  });

  it('refuses a schema defined differently in two documents', () => {
    expect(() =>
      collectSchemas([
        ['a.json', doc({ A: { type: 'string' } })],
        ['b.json', doc({ A: { type: 'integer' } })],
      ]),
    ).toThrow(/A differs between a.json and b.json/);
  });
});
