// PLY -> SPZ -> PLY with the spz-js npm package (MIT), for scripts/bench_splats.sh.
//   node spz_roundtrip.mjs IN.ply OUT.spz OUT.ply
import { createReadStream, readFileSync, writeFileSync } from 'fs';
import { Readable } from 'stream';
import { loadPly, loadSpz, serializePly, serializeSpz } from 'spz-js';

const [input, spzPath, plyPath] = process.argv.slice(2);
const t0 = performance.now();
const gs = await loadPly(Readable.toWeb(createReadStream(input)));
const t1 = performance.now();
writeFileSync(spzPath, Buffer.from(await serializeSpz(gs)));
const t2 = performance.now();
const back = await loadSpz(readFileSync(spzPath));
writeFileSync(plyPath, Buffer.from(serializePly(back)));
const t3 = performance.now();
console.log(`spz-js encode ${((t2 - t1) / 1000).toFixed(2)} s decode ${((t3 - t2) / 1000).toFixed(2)} s`);
