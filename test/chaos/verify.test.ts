/** The chaos tests' arithmetic must itself be right, or they would pass for the wrong reason. */
import { expect, it } from 'vitest';
import { verify } from './support/verify.js';

const expected = new Map([
  ['a', ['a0', 'a1', 'a2', 'a3']],
  ['b', ['b0', 'b1']],
]);

it('counts an exact delivery as clean', () => {
  expect(
    verify(
      expected,
      new Map([
        ['a', ['a0', 'a1', 'a2', 'a3']],
        ['b', ['b0', 'b1']],
      ]),
    ),
  ).toMatchObject({ sent: 6, delivered: 6, lost: 0, duplicates: 0, orderViolations: 0 });
});

it('counts an immediate repeat as a duplicate, not as disorder', () => {
  const f = verify(
    expected,
    new Map([
      ['a', ['a0', 'a1', 'a1', 'a2', 'a3']],
      ['b', ['b0', 'b1']],
    ]),
  );
  expect(f).toMatchObject({
    delivered: 7,
    lost: 0,
    duplicates: 1,
    orderViolations: 0,
    nonAdjacentDuplicates: 0,
    maxDuplicatesPerConversation: 1,
  });
});

it('counts a late repeat as a duplicate and as disorder', () => {
  const f = verify(
    expected,
    new Map([
      ['a', ['a0', 'a1', 'a2', 'a1', 'a3']],
      ['b', ['b0', 'b1']],
    ]),
  );
  expect(f).toMatchObject({ duplicates: 1, orderViolations: 1, nonAdjacentDuplicates: 1 });
});

it('counts a swap as disorder and a missing message as lost', () => {
  expect(
    verify(
      expected,
      new Map([
        ['a', ['a0', 'a2', 'a1', 'a3']],
        ['b', ['b0', 'b1']],
      ]),
    ),
  ).toMatchObject({ lost: 0, orderViolations: 1 });
  expect(verify(expected, new Map([['a', ['a0', 'a2', 'a3']]]))).toMatchObject({ lost: 3, orderViolations: 0, delivered: 3 });
});

it('counts a message that was never sent as disorder', () => {
  expect(
    verify(
      expected,
      new Map([
        ['a', ['a0', 'zz', 'a1', 'a2', 'a3']],
        ['c', ['c0']],
      ]),
    ),
  ).toMatchObject({ orderViolations: 2 });
});
