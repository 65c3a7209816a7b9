// Signs a slice of SNS notifications and writes them as raw HTTP requests
// ("<length>\n<request bytes>" records) for bench/snsload.c to replay.
//
// What it produces is exactly what the stand-in's SnsFake.notification()
// produces (same string to sign, same body layout, same headers), signed with
// the stand-in's 'good' signing key; run.mjs checks the first record of each
// set with the stand-in's own verifyMessage(). A parsed KeyObject is reused for
// every signature, which is what makes pre-signing 100k messages take seconds.
import { parentPort, workerData } from 'node:worker_threads';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { openSync, writeSync, closeSync } from 'node:fs';
import { formatSnsBody, stringToSign } from '../tests/standin/sns.mjs';

const { keyPem, certUrl, topicArn, subscriptionArn, unsubscribeUrl, file, items, path, version } = workerData;
const key = createPrivateKey(keyPem);
const alg = version === '2' ? 'sha256' : 'sha1';
const fd = openSync(file, 'w');
const firsts = [];
let chunk = [];
let chunkBytes = 0;

const flush = () => {
  if (chunk.length) writeSync(fd, Buffer.concat(chunk));
  chunk = [];
  chunkBytes = 0;
};

for (const it of items) {
  // The End User Messaging payload in AWS's field order (SnsFake.inboundSms()).
  const message = JSON.stringify({
    originationNumber: it.from,
    destinationNumber: it.to,
    messageKeyword: '',
    messageBody: it.body,
    inboundMessageId: randomUUID(),
    previousPublishedMessageId: '',
  });
  const fields = { Type: 'Notification', MessageId: randomUUID(), TopicArn: topicArn, Message: message, Timestamp: new Date().toISOString() };
  const signed = {
    ...fields,
    SignatureVersion: version,
    Signature: sign(alg, Buffer.from(stringToSign(fields), 'utf8'), key).toString('base64'),
    SigningCertURL: certUrl,
    UnsubscribeURL: unsubscribeUrl,
  };
  const body = Buffer.from(formatSnsBody(signed), 'utf8');
  const head = Buffer.from(
    `POST ${path} HTTP/1.1\r\n` +
    'Host: 127.0.0.1\r\n' +
    `x-amz-sns-message-type: ${signed.Type}\r\n` +
    `x-amz-sns-message-id: ${signed.MessageId}\r\n` +
    `x-amz-sns-topic-arn: ${signed.TopicArn}\r\n` +
    `x-amz-sns-subscription-arn: ${subscriptionArn}\r\n` +
    'Content-Type: text/plain; charset=UTF-8\r\n' +
    'User-Agent: Amazon Simple Notification Service Agent\r\n' +
    `Content-Length: ${body.length}\r\n\r\n`, 'utf8');
  if (firsts.length < 1) firsts.push(signed);
  chunk.push(Buffer.from(`${head.length + body.length}\n`), head, body);
  chunkBytes += head.length + body.length;
  if (chunkBytes > 4 << 20) flush();
}
flush();
closeSync(fd);
parentPort.postMessage({ file, count: items.length, first: firsts[0] });
