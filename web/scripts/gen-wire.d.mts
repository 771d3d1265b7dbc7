/** Types of gen-wire.mjs for the test that keeps src/sdk/wire.gen.ts current. */
export declare const SCHEMA_FILES: string[];
export declare const OUTPUT: string;
export declare function collectSchemas(docs: Array<[string, unknown]>): Map<string, unknown>;
export declare function renderWire(docs: Array<[string, unknown]>, sources: string[]): string;
export declare function renderFromDisk(): string;
