/** The adapter registry: one line per messenger. */
import type { AdapterDefinition } from './adapter.js';
import { telegramAdapter } from '../adapters/telegram/index.js';
import { webchatAdapter } from '../adapters/webchat/index.js';

export const builtInAdapters: AdapterDefinition[] = [telegramAdapter, webchatAdapter];
