// Entry file of the sandboxed compression processor (BullMQ imports it in a worker thread). Plain JavaScript so it
// loads without a TypeScript loader; tsx's scoped tsImport then loads the TypeScript processor and what it imports.
import { tsImport } from 'tsx/esm/api';

const processor = await tsImport('./compress-thread.ts', import.meta.url);
export default processor.default;
