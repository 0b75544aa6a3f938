/** Telegram's text splitting is the toolkit's (src/toolkit/split-text.ts); 4096 is its default. */
export { splitText } from '../../src/toolkit/index.js';
