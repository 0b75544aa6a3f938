/** Every webhook route the fuzz test hits: one module per route (a new adapter adds its own). */
import { blingerRoute } from './blinger.js';
import { httpRoute } from './http.js';
import type { FuzzRoute } from './kit.js';
import { maxRoute } from './max.js';
import { metaRoute } from './meta.js';
import { telegramRoute } from './telegram.js';
import { vkRoute } from './vk.js';

export const FUZZ_ROUTES: FuzzRoute[] = [telegramRoute, blingerRoute, httpRoute, vkRoute, maxRoute, metaRoute];
