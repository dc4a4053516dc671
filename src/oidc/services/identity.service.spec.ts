import { describe, expect, it } from 'vitest';
import { linkDecision, mayUnlink } from './identity.service';

describe('linkDecision', () => {
  it('an identity nobody has, for an account without one of that issuer: insert', () => {
    expect(linkDecision('u1', null, null)).toEqual({ kind: 'insert' });
  });

  it('already linked to this account: nothing to do', () => {
    expect(linkDecision('u1', { id: 'i1', userId: 'u1' }, null)).toEqual({ kind: 'already_linked', identityId: 'i1' });
  });

  it('linked to another account: conflict, whatever this account has', () => {
    expect(linkDecision('u1', { id: 'i1', userId: 'u2' }, null).kind).toBe('conflict');
    expect(linkDecision('u1', { id: 'i1', userId: 'u2' }, { id: 'i9' }).kind).toBe('conflict');
  });

  it('the account has another identity of that issuer (UNIQUE(user_id, issuer)): conflict', () => {
    expect(linkDecision('u1', null, { id: 'i2' })).toMatchObject({ kind: 'conflict', message: expect.stringContaining('unlink it first') });
  });
});

describe('mayUnlink', () => {
  it('never leaves an account without a way to sign in', () => {
    expect(mayUnlink(1, false)).toBe(false);
    expect(mayUnlink(0, false)).toBe(false);
    expect(mayUnlink(2, false)).toBe(true);
    expect(mayUnlink(1, true)).toBe(true);
  });
});
