package dev.panamax.grammar;

import java.util.Arrays;

/** An open-addressing long -> int map (no boxing: lookups allocate nothing). Missing keys read as -1. */
final class LongIntMap {
    private static final long EMPTY = Long.MIN_VALUE;
    private long[] keys;
    private int[] vals;
    private int size, mask;

    LongIntMap(int capacity) {
        int cap = Integer.highestOneBit(Math.max(16, capacity * 2 - 1)) << 1;
        keys = new long[cap];
        vals = new int[cap];
        Arrays.fill(keys, EMPTY);
        mask = cap - 1;
    }

    private static int hash(long k) {
        k ^= k >>> 33;
        k *= 0xff51afd7ed558ccdL;
        k ^= k >>> 33;
        return (int) k;
    }

    int get(long key) {
        for (int i = hash(key) & mask; ; i = (i + 1) & mask) {
            long k = keys[i];
            if (k == key) return vals[i];
            if (k == EMPTY) return -1;
        }
    }

    void put(long key, int v) {
        if (key == EMPTY) throw new IllegalArgumentException("reserved key");
        if (2 * (size + 1) > keys.length) grow();
        for (int i = hash(key) & mask; ; i = (i + 1) & mask) {
            if (keys[i] == key) { vals[i] = v; return; }
            if (keys[i] == EMPTY) {
                keys[i] = key;
                vals[i] = v;
                size++;
                return;
            }
        }
    }

    int size() {
        return size;
    }

    void clear() {
        Arrays.fill(keys, EMPTY);
        size = 0;
    }

    private void grow() {
        long[] ok = keys;
        int[] ov = vals;
        keys = new long[ok.length * 2];
        vals = new int[ok.length * 2];
        Arrays.fill(keys, EMPTY);
        mask = keys.length - 1;
        size = 0;
        for (int i = 0; i < ok.length; i++) if (ok[i] != EMPTY) put(ok[i], ov[i]);
    }
}
