import { BoundedMap, memoByJson } from '../src/core/bounded-map';

describe('BoundedMap', () => {
  it('keeps at most its limit, dropping the oldest entry first', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1).set('b', 2).set('c', 3);
    expect([...map.entries()]).toEqual([
      ['b', 2],
      ['c', 3],
    ]);
  });

  it('replaces a present key without dropping another, and an entry set again becomes the newest', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1).set('b', 2).set('a', 10);
    expect([...map.keys()]).toEqual(['a', 'b']);
    map.delete('a');
    map.set('a', 11).set('c', 3);
    expect([...map.entries()]).toEqual([
      ['a', 11],
      ['c', 3],
    ]);
  });
});

describe('memoByJson', () => {
  it('answers an argument with the same JSON from memory, false and undefined answers included', () => {
    const calls: unknown[] = [];
    const isEven = memoByJson((n: { value: number }) => (calls.push(n), n.value % 2 === 0), 10);
    expect([isEven({ value: 1 }), isEven({ value: 1 }), isEven({ value: 2 })]).toEqual([false, false, true]);
    expect(calls).toEqual([{ value: 1 }, { value: 2 }]);
    const nothing = memoByJson((_: string) => (calls.push(_), undefined), 10);
    nothing('x');
    nothing('x');
    expect(calls).toHaveLength(3);
  });

  it('computes again an argument dropped past its limit', () => {
    let calls = 0;
    const id = memoByJson((n: number) => (calls++, n), 1);
    id(1);
    id(2);
    id(1);
    expect(calls).toBe(3);
  });
});
