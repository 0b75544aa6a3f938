/** The messenger adapter against the shared conformance suite (driver: meta-harness.ts, over the Graph API double). */
import { describeConformance } from './conformance.js';
import { metaHarness } from './meta-harness.js';

describeConformance(metaHarness('messenger'));
