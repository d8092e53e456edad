// npm run bench: every benchmark, each printing ratios measured side by side in this one run.
import { benchHook } from './hook.js';
import { benchList } from './list.js';
import { benchImages } from './images.js';
import { benchSync } from './sync.js';

const only = process.argv[2];
if (!only || only === 'hook') await benchHook();
if (!only || only === 'images') await benchImages();
if (!only || only === 'list') await benchList();
if (!only || only === 'sync') await benchSync();
