// Regenerates providers/grapheme_table.py: the grapheme-break property of every code
// point as grapheme-splitter (the splitter the calculator uses; Unicode 10 rules)
// assigns it. Run: node tools/segment-oracle/grapheme_table.js > providers/grapheme_table.py
const fs = require('fs');
const path = require('path');

const file = require.resolve('grapheme-splitter');
// The property function is private; expose it on the instance for this script only.
const source = fs.readFileSync(file, 'utf8').replace(
  /\treturn this;\r?\n}/,
  '\tthis.property = getGraphemeBreakProperty;\n\treturn this;\n}'
);
const mod = { exports: {} };
new Function('module', 'exports', source)(mod, mod.exports);
const splitter = new mod.exports();
const version = require(path.join(path.dirname(file), 'package.json')).version;

const OTHER = 11;
const ranges = [];
let start = 0;
let prop = splitter.property(0);
for (let cp = 1; cp <= 0x110000; cp++) {
  const p = cp <= 0x10ffff ? splitter.property(cp) : -1;
  if (p !== prop) {
    if (prop !== OTHER) ranges.push([start, cp - 1, prop]);
    start = cp;
    prop = p;
  }
}
const lines = [
  `"""Generated from grapheme-splitter ${version} by tools/segment-oracle/grapheme_table.js; do not edit.`,
  '',
  'Grapheme-break property ranges (first, last, property) in code point order; code points',
  'not listed are Other (11). Property numbers are grapheme-splitter\'s."""',
  '',
  '# fmt: off',
  'RANGES = (',
];
for (const [a, b, p] of ranges) lines.push(`    (0x${a.toString(16).toUpperCase()}, 0x${b.toString(16).toUpperCase()}, ${p}),`);
lines.push(')', '# fmt: on', '');
process.stdout.write(lines.join('\n'));
