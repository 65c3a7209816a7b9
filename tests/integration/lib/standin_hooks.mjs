// The stand-in that every test of a file shares, kept by node:test hooks:
// started before the first test, with the number texted one of its account's
// (ownNumber()), and closed after the last; after each test, its queued
// faults, agent responder and DynamoDB outage are undone.
import { before, after, afterEach } from 'node:test';
import { startStandin } from '../../standin/standin.mjs';
import { ownNumber } from './daemon.mjs';

// started(standin) is called once it runs (to keep it, or set more up).
export function standinHooks({ consentTable, ourNumber, started }) {
  let standin;
  before(async () => {
    standin = await startStandin({ sns: true, consentTable });
    ownNumber(standin, ourNumber);
    await started(standin);
  });
  after(async () => { await standin?.close(); });
  afterEach(async () => {
    standin.faults.clear();
    standin.bedrock.setResponder(null);
    await standin.setDown('dynamodb', false);
  });
}
