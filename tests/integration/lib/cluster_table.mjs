// The cluster table ([cluster] table) made directly in the stand-in's
// DynamoDB, as docs/CLUSTER.md and twowayd.conf(5) define it and
// `twowayctl setup --cluster-table` creates it: pk/sk, the sparse GSI open-by
// (open_by, sk) over the open message records, and, with ttl, Time to Live
// on expires_at. index: false leaves the GSI out (a table doctor must fault).
// Resolves once the table is ACTIVE (bounded).
import { waitForAsync } from './daemon.mjs';

export async function createClusterTable(dynamodb, table, { index = true, ttl = false } = {}) {
  await dynamodb.call('CreateTable', {
    TableName: table,
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      ...(index ? [{ AttributeName: 'open_by', AttributeType: 'S' }] : []),
    ],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    ...(index ? {
      GlobalSecondaryIndexes: [{
        IndexName: 'open-by',
        KeySchema: [{ AttributeName: 'open_by', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
        Projection: { ProjectionType: 'ALL' },
      }],
    } : {}),
    BillingMode: 'PAY_PER_REQUEST',
  });
  await waitForAsync(async () => (await dynamodb.call('DescribeTable', { TableName: table })).Table.TableStatus === 'ACTIVE',
    { timeoutMs: 5000, what: `table ${table} ACTIVE` });
  if (ttl) {
    await dynamodb.call('UpdateTimeToLive', {
      TableName: table,
      TimeToLiveSpecification: { Enabled: true, AttributeName: 'expires_at' },
    });
  }
}
