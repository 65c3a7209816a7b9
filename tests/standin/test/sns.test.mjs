// Tests of the SNS part of the stand-in (tests/standin/sns.mjs): messages are
// signed exactly as SNS signs them (checked against real SNS deliveries and
// against independently written strings to sign), the throwaway PKI has the
// properties the negative tests rely on, the HTTPS certificate and subscription
// host behaves and records, and the delivery helpers behave like SNS. Loopback
// only; every wait is bounded.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { X509Certificate, verify as cryptoVerify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const standinDir = path.join(here, '..');
const { startStandin } = await import(path.join(standinDir, 'standin.mjs'));
const {
  stringToSign, signatureAlgorithm, verifyMessage, formatSnsBody, deliver, deliverWithRetries,
  startSnsFake, SNS_USER_AGENT, SNS_CONTENT_TYPE,
} = await import(path.join(standinDir, 'sns.mjs'));

const WAIT_MS = 10000;
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:twowayd-inbound';

// ---- real SNS deliveries ------------------------------------------------------------
// Published as test data with the AWS SDK for Java v2 (services-custom/sns-message-manager,
// src/test/resources/.../internal/*.json) together with the real signing certificate
// SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem (expired 2026-10-14;
// signature checks do not look at validity).

const REAL = {
  notification_no_subject: {
    Type: 'Notification',
    MessageId: 'c0e5a280-53c9-5a98-93bb-c0a560b3d192',
    TopicArn: 'arn:aws:sns:us-west-2:131990247566:dongie-standard-topic',
    Message: 'This notification has no subject.',
    Timestamp: '2026-03-06T19:55:38.903Z',
    SignatureVersion: '1',
    Signature: 'h5/2kLNyPKvMH+ipOA1kueaA1GLFlcKbO/9o6GbH7BtKk/8lM8krPFDrV+Lwuq8yZDXTxeSXHR8pG1w9' +
      'MkKQ3VlsHhMigy+5ejIsb+ZfpkDDO6dOACbkTg1twy9tLeKCyPfU01OokKTR6jlKJGCgXXDQm5Q1Fs4N' +
      'fUz22xGqteycG1GIioqq2Hvd1PLsDkcoyUAhciugGFcZKIGjUbBtdhMTPFX1ed8iH+Y/p6o/eD0G2i61' +
      '4oRSXYRJyV2iNpl54LCCiCrAafAJAM5NXAJJq9CWyTjxHFC18FnPqSukW1/6Qa502oujhPJ/pyl+6mMB' +
      'oF6LjnpbIyR8/Gmm+RY6fg==',
    SigningCertURL: 'https://sns.us-west-2.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a44' +
      '4dd1a8e7cc3ed8.pem',
    UnsubscribeURL: 'https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:' +
      'sns:us-west-2:131990247566:dongie-standard-topic:b24e11a2-06bd-4e73-aa29-0ed2de3' +
      'b41b5',
  },
  notification_subject: {
    Type: 'Notification',
    MessageId: '26858270-545e-5848-82a2-e05566af3dcf',
    TopicArn: 'arn:aws:sns:us-west-2:131990247566:dongie-standard-topic',
    Subject: 'My message subject',
    Message: 'Hello! This message has a subject.',
    Timestamp: '2026-03-06T19:53:21.424Z',
    SignatureVersion: '1',
    Signature: 'jvNSgHVOF9KUOKI3bmQZhURD0kDN6txhfjiyuvnV95Dw6b2SRa7nq3AhM8agP0KUCIrRgKHqUlN6K2XB' +
      'A35Lzkx1eI5RT0oXIN00pvvzGxSz0ddnuSGmDJM7bd/b1vl2RlLjz+KvkhzEtspxLnxjLsGl2EpOmztt' +
      '+um7owb4475sOLdGTx1QiFV/8HqB2J0DyjeWdRZvu7Xpsf1Yd2rgmijFoz8x89Vw8pIksjczr4q16pxd' +
      'h/XKWjbN2uPoC+3EeYdljL8KUvLYH9ueHSs5E9qq2iLdze4+FtANnE73XRvvSGE0KI+FGOvz1igest6q' +
      'on3g1/CVy4mq3n19TsCSmA==',
    SigningCertURL: 'https://sns.us-west-2.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a44' +
      '4dd1a8e7cc3ed8.pem',
    UnsubscribeURL: 'https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:' +
      'sns:us-west-2:131990247566:dongie-standard-topic:b24e11a2-06bd-4e73-aa29-0ed2de3' +
      'b41b5',
  },
  notification_v2: {
    Type: 'Notification',
    MessageId: '9d2c5580-b61d-550c-8583-37a582870907',
    TopicArn: 'arn:aws:sns:us-west-2:131990247566:dongie-standard-topic',
    Message: 'This message uses signature version 2.',
    Timestamp: '2026-03-06T20:00:26.893Z',
    SignatureVersion: '2',
    Signature: 'kGNJ7FIM5DJxRv9bdoSJBty2WHpADFWrJ0ZQU/A2sALy6tBE5hqfUvPRlklTJ+PACFMguoFOO7W6ac/B' +
      's4gR+JBRFhx4598X8/HWzrmaLrtB2f7nzViHbpzYN+u+OewXhxjj2lNsu0bLKv6fogkACytDIOhjZylb' +
      'fJoPphDYAB7T3Ila7u+K3m2wLHH4k1cPYKyBf5FI/kAoQAVsY6qFHeb6CWfHsdM98I2gwyEvwJSzW0iy' +
      'YBfqckmthQwH3Ex53jrhQlZylXFDYmstSJAdvbLeGqIUxKyk+O25wYgBjbbbeR+2qE2UCGEQrk1Bq018' +
      'wmTxdHZmDhoBjJXiGmFkfg==',
    SigningCertURL: 'https://sns.us-west-2.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a44' +
      '4dd1a8e7cc3ed8.pem',
    UnsubscribeURL: 'https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:' +
      'sns:us-west-2:131990247566:dongie-standard-topic:b24e11a2-06bd-4e73-aa29-0ed2de3' +
      'b41b5',
  },
  subscription_confirmation: {
    Type: 'SubscriptionConfirmation',
    MessageId: 'f3f2fc87-c426-4c2f-9044-b55890c0939c',
    Token: '2336412f37fb687f5d51e6e2425929f52e8e353134fe72d55ef8b330217d82da14007cbccefffd35' +
      'b695feb8f0294d01fd9644f41e1ddfad261519a2c0bac743ff375eeb64530147d2da57f3acc54739' +
      'da14c8dbd48a9d58ce996eff0d498ea6b4b9f58720d8959b52b99b8de148081720d7da17434e3766' +
      '14a00c992e7823e4',
    TopicArn: 'arn:aws:sns:us-west-2:131990247566:dongie-standard-topic',
    Message: 'You have chosen to subscribe to the topic arn:aws:sns:us-west-2:131990247566:don' +
      'gie-standard-topic.\nTo confirm the subscription, visit the SubscribeURL included' +
      ' in this message.',
    SubscribeURL: 'https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws' +
      ':sns:us-west-2:131990247566:dongie-standard-topic&Token=2336412f37fb687f5d51e6e2' +
      '425929f52e8e353134fe72d55ef8b330217d82da14007cbccefffd35b695feb8f0294d01fd9644f4' +
      '1e1ddfad261519a2c0bac743ff375eeb64530147d2da57f3acc54739da14c8dbd48a9d58ce996eff' +
      '0d498ea6b4b9f58720d8959b52b99b8de148081720d7da17434e376614a00c992e7823e4',
    Timestamp: '2026-03-06T19:31:32.895Z',
    SignatureVersion: '1',
    Signature: 'Ce2Ax8UbEq0RrVH7gsjP9WZ9bzif7dUkAY4OH99Pv7FSrvs8cK+uiH3a6ig54rXWUnZRUejk8K6KeK5Q' +
      '80O9iJp8KbPRKdQ0PkJ3YASdabhfK0e7evC05YR2pFoS6nNaqNzT7HrR1d1Z9iLoFxluo2Dzb7kWVB7e' +
      '9jp/y+ZBXRzRIaZgscM84kahBc6QgXOFJA1/PFA4cB5qaa6tBcUFtTE63o9vJ4wMmKk93W9MoszC+dNJ' +
      'eVFr8VHmt3toR+3JauBCZnGdgXgsDhni4PduSfWJJxEpuOK41iYf1hW+xFNFFsv46siTFiHdHiYDfI7/' +
      'VlaY4spMgkq3EndRr7rHzQ==',
    SigningCertURL: 'https://sns.us-west-2.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a44' +
      '4dd1a8e7cc3ed8.pem',
  },
  unsubscribe_confirmation: {
    Type: 'UnsubscribeConfirmation',
    MessageId: '0b71e34e-42c3-486a-9e32-b1928ec994b5',
    Token: '2336412f37fb687f5d51e6e2425929f52e8e353134fd0284eae5672847af082a982c7dd18215a148' +
      '5e04e559716f8b42054594757f42dee2d63c46fd3a0fa59b4d688de03db956f8bf9f8cb3167587a2' +
      '8b74c5d325e6a7594d24a43ac534de2dfca614ca89cebd490342c721c30a76ea03def13673437a6a' +
      '3e450642580119d0',
    TopicArn: 'arn:aws:sns:us-west-2:131990247566:dongie-standard-topic',
    Message: 'You have chosen to deactivate subscription arn:aws:sns:us-west-2:131990247566:do' +
      'ngie-standard-topic:b24e11a2-06bd-4e73-aa29-0ed2de3b41b5.\nTo cancel this operati' +
      'on and restore the subscription, visit the SubscribeURL included in this message' +
      '.',
    SubscribeURL: 'https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws' +
      ':sns:us-west-2:131990247566:dongie-standard-topic&Token=2336412f37fb687f5d51e6e2' +
      '425929f52e8e353134fd0284eae5672847af082a982c7dd18215a1485e04e559716f8b4205459475' +
      '7f42dee2d63c46fd3a0fa59b4d688de03db956f8bf9f8cb3167587a28b74c5d325e6a7594d24a43a' +
      'c534de2dfca614ca89cebd490342c721c30a76ea03def13673437a6a3e450642580119d0',
    Timestamp: '2026-03-06T20:02:25.038Z',
    SignatureVersion: '2',
    Signature: 'RLW/cGWZAdY96iEcvXGmAZQ851DUyWehJIUMHT3Qa0/kX7Wu2QimI44TfE8d9hTqyYFreA6ln4AS67m2' +
      '25DuySpBeiUBtzB/ibiU7jdZmfSiT/I/RTEU3eD0lHHZIYW0M7HAlhHyaSXdcSAbtfnhMBMION93IVl6' +
      'UOR4kWYdJaJ17/u3by3zlSRs8wCIpj06S6BzuzxrINZPJl+NKZYCVdMlrjuT4etX/UfZkC0Tjchpmu/C' +
      'QcuimAgswlesm8cVue0WqNPXkOr8h7HmsiGVXPN1jjkYKf2/tVJyBxur/lSksMopER8wtAIsrqY1caAZ' +
      'SI8YJkIndg/b+7eCwkjTBA==',
    SigningCertURL: 'https://sns.us-west-2.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a44' +
      '4dd1a8e7cc3ed8.pem',
  },
};
const REAL_CERT_PEM = `-----BEGIN CERTIFICATE-----
MIIFxTCCBK2gAwIBAgIQBkyRNHAyygLkObkxH5ju+zANBgkqhkiG9w0BAQsFADA8
MQswCQYDVQQGEwJVUzEPMA0GA1UEChMGQW1hem9uMRwwGgYDVQQDExNBbWF6b24g
UlNBIDIwNDggTTAxMB4XDTI1MTExMDAwMDAwMFoXDTI2MTAxNDIzNTk1OVowHDEa
MBgGA1UEAxMRc25zLmFtYXpvbmF3cy5jb20wggEiMA0GCSqGSIb3DQEBAQUAA4IB
DwAwggEKAoIBAQChbVNQ+DEaT5WN+l+bg0iEeF666Z6LDFc1KJr4lNl0odcXQSsk
KsZYCMVdp4I/Ikk9zWyckRTMkmQGYimpD+bTsMCP5C/sJIU0E9Y2OXjjl5Videkq
qnRL9VdE5N41Rvks7S/5MpYcSmCsmaHfwcv82Gvx2zm9CrA5Xu7K2ZqhzRQPCRSP
mHTHQr4ED63ujE+qTpPgQZ0TvgmcrAc08Z75Z7Zzs17aTNc3YhAtQx9WowN8uiHk
kgc+ONNdtwKvWZNmnbmxMHYtYc291WCP1K1Nh4TV5XNyjIebzQKDrqTCN0ItAr1x
e6Bl3BYS3SG9XHAy0q3ekITzQsKypcuaK6dTAgMBAAGjggLhMIIC3TAfBgNVHSME
GDAWgBSBuA5jiokSGOX6OztQlZ/m5ZAThTAdBgNVHQ4EFgQUBQEUzzzuVJAKzAlR
d0Q//W6HvZUwHAYDVR0RBBUwE4IRc25zLmFtYXpvbmF3cy5jb20wEwYDVR0gBAww
CjAIBgZngQwBAgEwDgYDVR0PAQH/BAQDAgWgMBMGA1UdJQQMMAoGCCsGAQUFBwMB
MDsGA1UdHwQ0MDIwMKAuoCyGKmh0dHA6Ly9jcmwucjJtMDEuYW1hem9udHJ1c3Qu
Y29tL3IybTAxLmNybDB1BggrBgEFBQcBAQRpMGcwLQYIKwYBBQUHMAGGIWh0dHA6
Ly9vY3NwLnIybTAxLmFtYXpvbnRydXN0LmNvbTA2BggrBgEFBQcwAoYqaHR0cDov
L2NydC5yMm0wMS5hbWF6b250cnVzdC5jb20vcjJtMDEuY2VyMAwGA1UdEwEB/wQC
MAAwggF/BgorBgEEAdZ5AgQCBIIBbwSCAWsBaQB3ANdtfRDRp/V3wsfpX9cAv/mC
yTNaZeHQswFzF8DIxWl3AAABmnAb33MAAAQDAEgwRgIhANXAgMEZWU326cqxqwnf
ntD0XcBjRbmvVMOp3hZ8boPXAiEAkI3NTMXcdLCChHak1ipOae7K7r3spMGUMk6Q
cEUKqBEAdgDCMX5XRRmjRe5/ON6ykEHrx8IhWiK/f9W1rXaa2Q5SzQAAAZpwG9+u
AAAEAwBHMEUCIQD+Qyok8NYaFuQkccW+XIMmxHxj6Yka2wjtg6UN/tbU5wIgcp4z
8MyC/dUfeLRuHAt0owtVgEu7xXqrMBOYlbXrfC4AdgDLOPcViXyEoURfW8Hd+8lu
8ppZzUcKaQWFsMsUwxRY5wAAAZpwG9+yAAAEAwBHMEUCIQCmu1jQUG9A2br7OqwM
FvQXtBX10yIvvDa6a2Ov1Zgg6gIgKlqRvN6WhX0pSHAN2bKmjRwIUI3X9kjS/A/m
DYULaV4wDQYJKoZIhvcNAQELBQADggEBAIbTQWQhqrG6SzwLq79tKCpI0aL0xlD+
/jrGPxpwTlK7rtAArHiEVh/bsmwLYRlIxPBiU+NE/kqeT0lhJA6/e3X3KRmnpJ6u
Z70PJGYwmZbSRsFom0vGFBMncX0qYx1iD0dooPeAkkSnM5j81rBh+FepV3HfF+tA
9gaglWLsU7Z/A0fdn9D32UPreVHloOut5EyEinvXRUAWZco9CRloyEXJr7Mxq9MZ
vYOK+5wuSPHnPij+fGlQsPxEgoTnCmU03PqNS49kL13jjEnYYdijqL+4rfHtuZbc
4hlVoZfttwg8wD3m5brhQ+GkBBNYN8HFtdVy/BnFi+SPJqv6BgB3Y00=
-----END CERTIFICATE-----
`;

// test-notification-with-subject.json byte for byte: the layout formatSnsBody() reproduces.
const REAL_SUBJECT_BODY =
  '{\n' +
  '  "Type" : "Notification",\n' +
  '  "MessageId" : "26858270-545e-5848-82a2-e05566af3dcf",\n' +
  '  "TopicArn" : "arn:aws:sns:us-west-2:131990247566:dongie-standard-topic",\n' +
  '  "Subject" : "My message subject",\n' +
  '  "Message" : "Hello! This message has a subject.",\n' +
  '  "Timestamp" : "2026-03-06T19:53:21.424Z",\n' +
  '  "SignatureVersion" : "1",\n' +
  '  "Signature" : "' + REAL.notification_subject.Signature + '",\n' +
  '  "SigningCertURL" : "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem",\n' +
  '  "UnsubscribeURL" : "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:131990247566:dongie-standard-topic:b24e11a2-06bd-4e73-aa29-0ed2de3b41b5"\n' +
  '}';

// ---- helpers -----------------------------------------------------------------------------

// GET over HTTPS trusting only `ca`. Resolves {status, headers, body, peer}; rejects on
// TLS or socket errors (bounded by WAIT_MS).
function httpsGet(url, { ca, servername } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, servername, agent: false }, (res) => {
      const peer = res.socket.getPeerCertificate();
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(parts);
        resolve({ status: res.statusCode, headers: res.headers, body: raw.toString('utf8'), raw, peer });
      });
      res.on('error', reject);
    });
    req.setTimeout(WAIT_MS, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
  });
}

// A loopback endpoint standing in for the daemon: answers with the next scripted
// reply ({status} or {hang: true}) and records what it got.
async function startEndpoint(replies, { tls } = {}) {
  const got = [];
  const handler = (req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      got.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(parts).toString('utf8') });
      const r = replies.shift() ?? { status: 200 };
      if (r.hang) return; // never answers; the client's deadline ends it
      res.writeHead(r.status, { 'content-type': 'text/plain' });
      res.end(r.body ?? '');
    });
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}/sns`;
  return {
    url,
    got,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

let standin;
let sns;
before(async () => {
  standin = await startStandin({ sns: true });
  sns = standin.sns;
});
after(async () => {
  await standin?.close();
});

// ---- real vectors: the canonical string builder ------------------------------------------------

test('real SNS deliveries: our string to sign reproduces theirs and verifies with the real certificate', () => {
  // Written out by hand from the SNS documentation's rule, not produced by the code under test.
  const expected = {
    notification_no_subject:
      'Message\nThis notification has no subject.\n' +
      'MessageId\nc0e5a280-53c9-5a98-93bb-c0a560b3d192\n' +
      'Timestamp\n2026-03-06T19:55:38.903Z\n' +
      'TopicArn\narn:aws:sns:us-west-2:131990247566:dongie-standard-topic\n' +
      'Type\nNotification\n',
    notification_subject:
      'Message\nHello! This message has a subject.\n' +
      'MessageId\n26858270-545e-5848-82a2-e05566af3dcf\n' +
      'Subject\nMy message subject\n' +
      'Timestamp\n2026-03-06T19:53:21.424Z\n' +
      'TopicArn\narn:aws:sns:us-west-2:131990247566:dongie-standard-topic\n' +
      'Type\nNotification\n',
    notification_v2:
      'Message\nThis message uses signature version 2.\n' +
      'MessageId\n9d2c5580-b61d-550c-8583-37a582870907\n' +
      'Timestamp\n2026-03-06T20:00:26.893Z\n' +
      'TopicArn\narn:aws:sns:us-west-2:131990247566:dongie-standard-topic\n' +
      'Type\nNotification\n',
    subscription_confirmation:
      'Message\nYou have chosen to subscribe to the topic arn:aws:sns:us-west-2:131990247566:dongie-standard-topic.\n' +
      'To confirm the subscription, visit the SubscribeURL included in this message.\n' +
      'MessageId\nf3f2fc87-c426-4c2f-9044-b55890c0939c\n' +
      `SubscribeURL\n${REAL.subscription_confirmation.SubscribeURL}\n` +
      'Timestamp\n2026-03-06T19:31:32.895Z\n' +
      `Token\n${REAL.subscription_confirmation.Token}\n` +
      'TopicArn\narn:aws:sns:us-west-2:131990247566:dongie-standard-topic\n' +
      'Type\nSubscriptionConfirmation\n',
    unsubscribe_confirmation:
      'Message\nYou have chosen to deactivate subscription ' +
      'arn:aws:sns:us-west-2:131990247566:dongie-standard-topic:b24e11a2-06bd-4e73-aa29-0ed2de3b41b5.\n' +
      'To cancel this operation and restore the subscription, visit the SubscribeURL included in this message.\n' +
      'MessageId\n0b71e34e-42c3-486a-9e32-b1928ec994b5\n' +
      `SubscribeURL\n${REAL.unsubscribe_confirmation.SubscribeURL}\n` +
      'Timestamp\n2026-03-06T20:02:25.038Z\n' +
      `Token\n${REAL.unsubscribe_confirmation.Token}\n` +
      'TopicArn\narn:aws:sns:us-west-2:131990247566:dongie-standard-topic\n' +
      'Type\nUnsubscribeConfirmation\n',
  };
  const realKey = new X509Certificate(REAL_CERT_PEM).publicKey;
  for (const [name, msg] of Object.entries(REAL)) {
    const tbs = stringToSign(msg);
    assert.equal(tbs, expected[name], name);
    const sig = Buffer.from(msg.Signature, 'base64');
    const alg = signatureAlgorithm(msg.SignatureVersion);
    assert.equal(cryptoVerify(alg, Buffer.from(tbs), realKey, sig), true, `${name} verifies`);
    assert.equal(verifyMessage(msg, REAL_CERT_PEM), true, `${name} verifyMessage`);
    // The other hash must not verify: the version really selects the algorithm.
    const other = alg === 'sha1' ? 'sha256' : 'sha1';
    assert.equal(cryptoVerify(other, Buffer.from(tbs), realKey, sig), false, `${name} wrong hash`);
    // A one-byte change in any signed value breaks it.
    assert.equal(verifyMessage({ ...msg, Message: msg.Message + ' ' }, REAL_CERT_PEM), false, `${name} tampered`);
  }
  assert.deepEqual(Object.keys(REAL).map((n) => REAL[n].SignatureVersion), ['1', '1', '2', '1', '2']);
});

test('real SNS delivery: formatSnsBody reproduces the body layout byte for byte', () => {
  assert.equal(formatSnsBody(JSON.parse(REAL_SUBJECT_BODY)), REAL_SUBJECT_BODY);
  assert.deepEqual(JSON.parse(REAL_SUBJECT_BODY), REAL.notification_subject);
});

test('stringToSign: Subject only when present, unknown types and missing keys refused', () => {
  const base = { Type: 'Notification', MessageId: 'm', Message: 'x', Timestamp: 't', TopicArn: 'a' };
  const plain = 'Message\nx\nMessageId\nm\nTimestamp\nt\nTopicArn\na\nType\nNotification\n';
  assert.equal(stringToSign(base), plain);
  assert.equal(stringToSign({ ...base, Subject: null }), plain);
  assert.equal(stringToSign({ ...base, Subject: '' }), 'Message\nx\nMessageId\nm\nSubject\n\nTimestamp\nt\nTopicArn\na\nType\nNotification\n');
  // Not signed: extra fields change nothing.
  assert.equal(stringToSign({ ...base, UnsubscribeURL: 'u', SignatureVersion: '1', MessageAttributes: {} }), plain);
  assert.throws(() => stringToSign({ ...base, Type: 'Bogus' }), /unknown message Type/);
  assert.throws(() => stringToSign({ ...base, Timestamp: undefined }), /Timestamp must be a string/);
  assert.throws(() => signatureAlgorithm('3'), /unknown SignatureVersion/);
  assert.equal(signatureAlgorithm(1), 'sha1');
  assert.equal(signatureAlgorithm('2'), 'sha256');
});

// ---- generated messages ----------------------------------------------------------------------

test('every message type verifies with the leaf certificate for SignatureVersion 1 and 2', () => {
  const leaf = new X509Certificate(sns.cert('good').certPem);
  for (const version of ['1', '2']) {
    const msgs = {
      Notification: sns.notification({ message: 'hello', signatureVersion: version }),
      NotificationWithSubject: sns.notification({ message: 'hello', subject: 'subj', signatureVersion: version }),
      SubscriptionConfirmation: sns.subscriptionConfirmation({ signatureVersion: version }),
      UnsubscribeConfirmation: sns.unsubscribeConfirmation({ signatureVersion: version }),
    };
    for (const [name, m] of Object.entries(msgs)) {
      const json = JSON.parse(m.body);
      assert.equal(json.SignatureVersion, version);
      const ok = cryptoVerify(version === '1' ? 'sha1' : 'sha256', Buffer.from(stringToSign(json)), leaf.publicKey,
        Buffer.from(json.Signature, 'base64'));
      assert.equal(ok, true, `${name} v${version}`);
      assert.equal(m.stringToSign, stringToSign(json));
      assert.equal(json.SigningCertURL, sns.certUrl('good'));
      // Signatures are standard base64 with padding, 2048-bit RSA → 256 bytes.
      assert.match(json.Signature, /^[A-Za-z0-9+/]+={0,2}$/);
      assert.equal(Buffer.from(json.Signature, 'base64').length, 256);
    }
  }
});

test('string to sign matches independently written strings (Notification with/without Subject, SubscriptionConfirmation)', () => {
  const common = { topicArn: TOPIC, messageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324', timestamp: '2012-05-02T00:54:06.655Z' };
  const withSubject = sns.notification({ ...common, message: 'Hello world!', subject: 'My First Message' });
  assert.equal(withSubject.stringToSign,
    'Message\nHello world!\n' +
    'MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n' +
    'Subject\nMy First Message\n' +
    'Timestamp\n2012-05-02T00:54:06.655Z\n' +
    'TopicArn\narn:aws:sns:us-east-1:123456789012:twowayd-inbound\n' +
    'Type\nNotification\n');

  const sms = sns.inboundSms({ from: '+14255550123', to: '+18005550199', body: 'Hello', inboundMessageId: 'cae173d2-66b9-564c-8309-21f858e9fb84', keyword: 'JOIN' });
  const noSubject = sns.notification({ ...common, message: sms });
  assert.equal(noSubject.stringToSign,
    'Message\n{"originationNumber":"+14255550123","destinationNumber":"+18005550199","messageKeyword":"JOIN",' +
    '"messageBody":"Hello","inboundMessageId":"cae173d2-66b9-564c-8309-21f858e9fb84","previousPublishedMessageId":""}\n' +
    'MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n' +
    'Timestamp\n2012-05-02T00:54:06.655Z\n' +
    'TopicArn\narn:aws:sns:us-east-1:123456789012:twowayd-inbound\n' +
    'Type\nNotification\n');

  const token = '2336412f37fb687f5d51e6e2425929f52e8e353134fe72d55ef8b330217d82da';
  const conf = sns.subscriptionConfirmation({ ...common, token });
  // Only the host:port of the stand-in varies between runs.
  assert.equal(conf.stringToSign,
    'Message\nYou have chosen to subscribe to the topic arn:aws:sns:us-east-1:123456789012:twowayd-inbound.\n' +
    'To confirm the subscription, visit the SubscribeURL included in this message.\n' +
    'MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n' +
    `SubscribeURL\n${sns.url}/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:twowayd-inbound&Token=${token}\n` +
    'Timestamp\n2012-05-02T00:54:06.655Z\n' +
    `Token\n${token}\n` +
    'TopicArn\narn:aws:sns:us-east-1:123456789012:twowayd-inbound\n' +
    'Type\nSubscriptionConfirmation\n');
});

test('headers and body field order are those SNS sends', () => {
  const n = sns.notification({ message: 'm', subject: 's', messageAttributes: { a: { Type: 'String', Value: 'v' } } });
  const subArn = sns.subscriptionArn(TOPIC);
  assert.match(subArn, /^arn:aws:sns:us-east-1:123456789012:twowayd-inbound:[0-9a-f-]{36}$/);
  assert.deepEqual(n.headers, {
    'x-amz-sns-message-type': 'Notification',
    'x-amz-sns-message-id': n.json.MessageId,
    'x-amz-sns-topic-arn': TOPIC,
    'x-amz-sns-subscription-arn': subArn,
    'content-type': 'text/plain; charset=UTF-8',
    'user-agent': 'Amazon Simple Notification Service Agent',
  });
  assert.equal(SNS_CONTENT_TYPE, 'text/plain; charset=UTF-8');
  assert.equal(SNS_USER_AGENT, 'Amazon Simple Notification Service Agent');
  assert.deepEqual(Object.keys(JSON.parse(n.body)), ['Type', 'MessageId', 'TopicArn', 'Subject', 'Message', 'Timestamp',
    'SignatureVersion', 'Signature', 'SigningCertURL', 'UnsubscribeURL', 'MessageAttributes']);
  assert.match(n.json.Timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.match(n.json.MessageId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(n.json.UnsubscribeURL, `${sns.url}/?Action=Unsubscribe&SubscriptionArn=${subArn}`);
  assert.match(n.body, /^\{\n {2}"Type" : "Notification",\n/);

  const c = sns.subscriptionConfirmation({});
  assert.deepEqual(Object.keys(JSON.parse(c.body)), ['Type', 'MessageId', 'Token', 'TopicArn', 'Message', 'SubscribeURL',
    'Timestamp', 'SignatureVersion', 'Signature', 'SigningCertURL']);
  assert.equal(c.headers['x-amz-sns-subscription-arn'], undefined, 'not subscribed yet');
  assert.equal(c.headers['x-amz-sns-message-type'], 'SubscriptionConfirmation');
  assert.match(c.token, /^[0-9a-f]{256}$/);

  const u = sns.unsubscribeConfirmation({});
  assert.deepEqual(Object.keys(JSON.parse(u.body)), ['Type', 'MessageId', 'Token', 'TopicArn', 'Message', 'SubscribeURL',
    'Timestamp', 'SignatureVersion', 'Signature', 'SigningCertURL']);
  assert.equal(u.headers['x-amz-sns-subscription-arn'], subArn);
  assert.match(u.json.Message, /^You have chosen to deactivate subscription arn:aws:sns:.*\.\nTo cancel this operation/);

  // Header overrides: a value replaces, null removes.
  const h = sns.notification({ message: 'm', headers: { 'X-Amz-Sns-Topic-Arn': 'arn:aws:sns:us-east-1:123456789012:other', 'user-agent': null } });
  assert.equal(h.headers['x-amz-sns-topic-arn'], 'arn:aws:sns:us-east-1:123456789012:other');
  assert.equal('user-agent' in h.headers, false);
  assert.throws(() => sns.notification({}), /message is required/);
  assert.throws(() => sns.notification({ message: 'm', signatureVersion: '3' }), /unknown SignatureVersion/);
  assert.throws(() => sns.notification({ message: 'm', cert: 'nope' }), /unknown certificate/);
});

test('inboundSms builds the End User Messaging payload in AWS field order', () => {
  const m = sns.inboundSms({ body: 'STOP', keyword: 'STOP', inboundMessageId: 'id-1', previousPublishedMessageId: 'prev-1' });
  assert.deepEqual(m, {
    originationNumber: '+14255550123', destinationNumber: '+18005550199', messageKeyword: 'STOP',
    messageBody: 'STOP', inboundMessageId: 'id-1', previousPublishedMessageId: 'prev-1',
  });
  assert.deepEqual(Object.keys(m), ['originationNumber', 'destinationNumber', 'messageKeyword', 'messageBody',
    'inboundMessageId', 'previousPublishedMessageId']);
  const d = sns.inboundSms();
  assert.equal(d.messageBody, 'Hello');
  assert.match(d.inboundMessageId, /^[0-9a-f-]{36}$/);
  assert.notEqual(sns.inboundSms().inboundMessageId, d.inboundMessageId);
  const bare = sns.inboundSms({ keyword: null, previousPublishedMessageId: null });
  assert.deepEqual(Object.keys(bare), ['originationNumber', 'destinationNumber', 'messageBody', 'inboundMessageId']);
  // Inside a Notification the payload is a JSON string (parse twice on the receiving side).
  const n = sns.notification({ message: m });
  assert.equal(typeof JSON.parse(n.body).Message, 'string');
  assert.deepEqual(JSON.parse(JSON.parse(n.body).Message), m);
});

test('tamper options break verification; other variants sign with their own keys', () => {
  const good = sns.cert('good').certPem;
  assert.equal(verifyMessage(sns.notification({ message: 'm' }).json, good), true);
  for (const tamper of [true, 'message', 'signature', 'signatureVersion', (j) => { j.Timestamp = '2000-01-01T00:00:00.000Z'; }]) {
    for (const signatureVersion of ['1', '2']) {
      const t = sns.notification({ message: sns.inboundSms(), tamper, signatureVersion });
      const json = JSON.parse(t.body);
      assert.equal(verifyMessage(json, good), false, `tamper ${tamper} v${signatureVersion}`);
      // Headers follow the tampered body, so only the signature is wrong.
      assert.equal(t.headers['x-amz-sns-message-id'], json.MessageId);
    }
  }
  const c = sns.subscriptionConfirmation({ tamper: 'message' });
  assert.equal(verifyMessage(c.json, good), false);
  // Message tampering keeps a JSON payload parseable.
  const t = sns.notification({ message: sns.inboundSms(), tamper: 'message' });
  assert.doesNotThrow(() => JSON.parse(t.json.Message));
  assert.throws(() => sns.notification({ message: 'm', tamper: 'everything' }), /unknown tamper/);

  for (const name of sns.certNames().filter((n) => n !== 'good')) {
    const m = sns.notification({ message: 'm', cert: name });
    assert.equal(m.json.SigningCertURL, sns.certUrl(name));
    assert.equal(verifyMessage(m.json, sns.cert(name).certPem), true, `${name} signs with its own key`);
    assert.equal(verifyMessage(m.json, good), false, `${name} is not the good key`);
  }
  // certUrl override: signed by 'good' but pointing elsewhere (e.g. a host the daemon must refuse).
  const o = sns.notification({ message: 'm', certUrl: 'https://evil.example/SimpleNotificationService-00.pem' });
  assert.equal(o.json.SigningCertURL, 'https://evil.example/SimpleNotificationService-00.pem');
  assert.equal(verifyMessage(o.json, good), true);
});

// ---- the PKI ------------------------------------------------------------------------------------

test('PKI: good leaf chains to caPem with the SNS name; negative variants are what they say', () => {
  const ca = new X509Certificate(sns.caPem);
  assert.equal(ca.ca, true);
  assert.equal(ca.publicKey.asymmetricKeyDetails.modulusLength, 2048);
  assert.ok(existsSync(sns.caFile));
  const now = Date.now();
  const x = (name) => new X509Certificate(sns.cert(name).certPem);

  const good = x('good');
  assert.equal(good.verify(ca.publicKey), true);
  assert.equal(good.ca, false);
  assert.match(good.subject, /^CN=sns\.amazonaws\.com$/m);
  assert.equal(good.subjectAltName, 'DNS:sns.amazonaws.com');
  assert.equal(good.checkHost('sns.amazonaws.com'), 'sns.amazonaws.com');
  assert.ok(Date.parse(good.validFrom) <= now && now < Date.parse(good.validTo));
  assert.equal(good.publicKey.asymmetricKeyDetails.modulusLength, 2048);

  const expired = x('expired');
  assert.equal(expired.verify(ca.publicKey), true);
  assert.ok(Date.parse(expired.validTo) < now);
  const future = x('notYetValid');
  assert.equal(future.verify(ca.publicKey), true);
  assert.ok(Date.parse(future.validFrom) > now);
  const wrong = x('wrongCn');
  assert.equal(wrong.verify(ca.publicKey), true);
  assert.equal(wrong.checkHost('sns.amazonaws.com'), undefined);
  assert.match(wrong.subject, /^CN=sns\.example\.com$/m);
  const untrusted = x('untrusted');
  assert.equal(untrusted.verify(ca.publicKey), false);
  assert.equal(untrusted.checkHost('sns.amazonaws.com'), 'sns.amazonaws.com');
  assert.equal(x('weakKey').publicKey.asymmetricKeyDetails.modulusLength, 1024);
  assert.deepEqual(sns.certNames().sort(),
    ['expired', 'good', 'notYetValid', 'untrusted', 'viaIntermediate', 'viaIntermediateNoAia', 'weakKey', 'wrongCn']);

  // One distinct URL per variant, in the real path form.
  const urls = sns.certNames().map((n) => sns.certUrl(n));
  assert.equal(new Set(urls).size, urls.length);
  for (const u of urls) assert.match(u, new RegExp(`^https://127\\.0\\.0\\.1:${sns.port}/SimpleNotificationService-[0-9a-f]{32}\\.pem$`));
  assert.equal(sns.signingCertHostRegex, '^127\\.0\\.0\\.1$');
  assert.equal(sns.certHost, '127.0.0.1');

  const tls = new X509Certificate(sns.serverTls.certPem);
  assert.equal(tls.verify(ca.publicKey), true);
  assert.equal(tls.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(tls.checkHost('localhost'), 'localhost');
});

test('PKI: the viaIntermediate leaves chain to caPem only through the intermediate; AIA names issuerUrl', async () => {
  const ca = new X509Certificate(sns.caPem);
  const inter = new X509Certificate(sns.intermediate.certPem);
  assert.equal(inter.ca, true);
  assert.equal(inter.verify(ca.publicKey), true);
  assert.equal(inter.checkIssued(ca), true);
  assert.deepEqual(Buffer.from(inter.raw), sns.intermediate.certDer);
  assert.equal(sns.intermediate.url, sns.issuerUrl);
  assert.equal(sns.issuerUrl, `https://127.0.0.1:${sns.port}/intermediate.cer`);
  for (const name of ['viaIntermediate', 'viaIntermediateNoAia']) {
    const leaf = new X509Certificate(sns.cert(name).certPem);
    assert.equal(leaf.verify(inter.publicKey), true, name);
    assert.equal(leaf.verify(ca.publicKey), false, name);
    assert.equal(leaf.ca, false);
    assert.equal(leaf.checkHost('sns.amazonaws.com'), 'sns.amazonaws.com');
    assert.equal(leaf.subjectAltName, 'DNS:sns.amazonaws.com');
    assert.ok(Date.parse(leaf.validFrom) <= Date.now() && Date.now() < Date.parse(leaf.validTo));
  }
  assert.equal(new X509Certificate(sns.cert('viaIntermediate').certPem).infoAccess?.trim(), `CA Issuers - URI:${sns.issuerUrl}`);
  assert.equal(new X509Certificate(sns.cert('viaIntermediateNoAia').certPem).infoAccess, undefined);

  // The leaf URL serves the leaf alone (as SNS does); the issuer URL serves the intermediate as DER.
  sns.clear();
  const leaf = await httpsGet(sns.certUrl('viaIntermediate'), { ca: sns.caPem });
  assert.equal(leaf.status, 200);
  assert.equal(leaf.body, sns.cert('viaIntermediate').certPem);
  assert.equal(leaf.body.match(/-----BEGIN CERTIFICATE-----/g).length, 1);
  const der = await httpsGet(sns.issuerUrl, { ca: sns.caPem });
  assert.equal(der.status, 200);
  assert.equal(der.headers['content-type'], 'application/pkix-cert');
  assert.deepEqual(der.raw, sns.intermediate.certDer);
  assert.deepEqual(sns.requests().map((q) => q.kind), ['cert', 'issuer']);
  assert.deepEqual(sns.fetches().map((f) => f.certName), ['viaIntermediate']);
  assert.deepEqual(sns.issuerFetches().map((f) => [f.path, f.status]), [['/intermediate.cer', 200]]);
  assert.equal((await sns.waitForIssuerFetches(1)).length, 1);
});

// ---- the HTTPS host -------------------------------------------------------------------------------

test('HTTPS host: certificate verifies against caPem for 127.0.0.1 and localhost; fetches are recorded', async () => {
  sns.clear();
  const url = sns.certUrl('good');
  const r = await httpsGet(url, { ca: sns.caPem });
  assert.equal(r.status, 200);
  assert.equal(r.body, sns.cert('good').certPem);
  assert.match(r.headers['content-type'], /pem/);
  assert.equal(r.peer.subjectaltname, 'IP Address:127.0.0.1, DNS:localhost');

  // Same server reached by name: the DNS SAN covers it.
  const viaName = await httpsGet(url.replace('127.0.0.1', 'localhost'), { ca: sns.caPem });
  assert.equal(viaName.status, 200);

  // Without the CA the server is not trusted.
  await assert.rejects(httpsGet(url), (e) => ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN'].includes(e.code));

  // Unknown certificate name → 404, still recorded.
  const missing = await httpsGet(`${sns.url}/SimpleNotificationService-0000.pem`, { ca: sns.caPem });
  assert.equal(missing.status, 404);
  assert.match(missing.body, /<Code>NotFound<\/Code>/);

  const fetched = await sns.waitForFetches(3);
  assert.equal(fetched.length, 3, 'the rejected TLS handshake sent no request');
  assert.deepEqual(fetched.map((f) => [f.certName, f.status]), [['good', 200], ['good', 200], [null, 404]]);
  assert.equal(fetched[0].url, url);
  assert.equal(fetched[0].method, 'GET');
  assert.deepEqual(sns.fetches('good').map((f) => f.path), [new URL(url).pathname, new URL(url).pathname]);
  // What a test uses to show that a URL was never fetched.
  assert.deepEqual(sns.fetches('expired'), []);
  assert.equal(sns.fetches().some((f) => f.url === sns.certUrl('untrusted')), false);
  assert.deepEqual(sns.confirmations(), []);
});

test('SubscribeURL confirms: XML ConfirmSubscriptionResponse, recorded; unknown token → 404', async () => {
  sns.clear();
  const c = sns.subscriptionConfirmation({});
  const wait = sns.waitForConfirmations(1, { timeoutMs: WAIT_MS });
  const r = await httpsGet(c.json.SubscribeURL, { ca: sns.caPem });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/xml');
  const arn = /<SubscriptionArn>([^<]+)<\/SubscriptionArn>/.exec(r.body)?.[1];
  assert.match(r.body, /<ConfirmSubscriptionResponse xmlns="http:\/\/sns\.amazonaws\.com\/doc\/2010-03-31\/">/);
  assert.match(r.body, /<RequestId>[0-9a-f-]{36}<\/RequestId>/);
  assert.match(arn, /^arn:aws:sns:us-east-1:123456789012:twowayd-inbound:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(arn, sns.subscriptionArn(TOPIC));
  const [conf] = await wait;
  assert.equal(conf.topicArn, TOPIC);
  assert.equal(conf.token, c.token);
  assert.equal(conf.subscriptionArn, arn);
  assert.equal(conf.type, 'SubscriptionConfirmation');
  assert.ok(!Number.isNaN(Date.parse(conf.time)));

  const unknown = await httpsGet(`${sns.url}/?Action=ConfirmSubscription&TopicArn=${TOPIC}&Token=deadbeef`, { ca: sns.caPem });
  assert.equal(unknown.status, 404);
  assert.match(unknown.body, /<ErrorResponse xmlns="http:\/\/sns\.amazonaws\.com\/doc\/2010-03-31\/">[\s\S]*<Code>NotFound<\/Code>/);
  const otherTopic = await httpsGet(`${sns.url}/?Action=ConfirmSubscription&TopicArn=${TOPIC}-2&Token=${c.token}`, { ca: sns.caPem });
  assert.equal(otherTopic.status, 400);
  const noToken = await httpsGet(`${sns.url}/?Action=ConfirmSubscription&TopicArn=${TOPIC}`, { ca: sns.caPem });
  assert.equal(noToken.status, 400);
  assert.equal(sns.confirmations().length, 1, 'refused confirmations are not recorded');
  assert.deepEqual(sns.requests().map((q) => q.kind), ['confirm', 'confirm', 'confirm', 'confirm']);

  // The UnsubscribeConfirmation's SubscribeURL re-subscribes (confirms again).
  const u = sns.unsubscribeConfirmation({});
  assert.equal((await httpsGet(u.json.SubscribeURL, { ca: sns.caPem })).status, 200);
  assert.equal(sns.confirmations().at(-1).type, 'UnsubscribeConfirmation');

  // A Notification's UnsubscribeURL is served too.
  const n = sns.notification({ message: 'm' });
  const un = await httpsGet(n.json.UnsubscribeURL, { ca: sns.caPem });
  assert.equal(un.status, 200);
  assert.match(un.body, /<UnsubscribeResponse /);
  assert.deepEqual(sns.unsubscribes().map((x) => x.subscriptionArn), [arn]);
});

test('faults on the HTTPS host: status, delay, drop, body, in order, then normal service', async () => {
  sns.clear();
  const url = sns.certUrl('good');
  standin.faults.push('sns', { status: 503 }).push('sns', { drop: true }).push('sns', { delayMs: 200 })
    .push('sns', { body: 'not a pem', status: 200 });
  assert.equal(standin.faults.pending('sns').length, 4);

  const r1 = await httpsGet(url, { ca: sns.caPem });
  assert.equal(r1.status, 503);
  assert.match(r1.body, /<Code>ServiceUnavailable<\/Code>/);
  await assert.rejects(httpsGet(url, { ca: sns.caPem }), (e) => e.code === 'ECONNRESET' || /socket hang up/.test(e.message));
  const t0 = Date.now();
  const r3 = await httpsGet(url, { ca: sns.caPem });
  assert.ok(Date.now() - t0 >= 180, 'delayed');
  assert.equal(r3.status, 200);
  assert.equal(r3.body, sns.cert('good').certPem);
  const r4 = await httpsGet(url, { ca: sns.caPem });
  assert.equal(r4.body, 'not a pem');
  const r5 = await httpsGet(url, { ca: sns.caPem });
  assert.equal(r5.body, sns.cert('good').certPem);

  assert.deepEqual(sns.fetches().map((f) => Object.keys(f.fault ?? {})[0] ?? null), ['status', 'drop', 'delayMs', 'body', null]);
  assert.equal(standin.faults.pending('sns').length, 0);

  // Faults apply to confirmations as well.
  const c = sns.subscriptionConfirmation({});
  standin.faults.push('sns', { status: 500 });
  assert.equal((await httpsGet(c.json.SubscribeURL, { ca: sns.caPem })).status, 500);
  assert.equal(sns.confirmations().length, 0);
  assert.equal((await httpsGet(c.json.SubscribeURL, { ca: sns.caPem })).status, 200);
  assert.equal(sns.confirmations().length, 1);

  standin.faults.push('sns', { status: 500 });
  standin.faults.clear('sns');
  assert.deepEqual(standin.faults.pending('sns'), []);
  assert.throws(() => standin.faults.push('sns', { exception: 'throttlingException' }), /no exception fault/);
  assert.throws(() => standin.faults.push('sns', { stauts: 500 }), /unknown fault field/);
});

// ---- delivery helpers --------------------------------------------------------------------------------

test('deliver POSTs exactly the built request, no keep-alive, and never throws on non-2xx', async () => {
  const ep = await startEndpoint([{ status: 200 }, { status: 403, body: 'nope' }]);
  try {
    const n = sns.notification({ message: sns.inboundSms() });
    const r = await sns.deliver(ep.url, n, { timeoutMs: WAIT_MS });
    assert.equal(r.status, 200);
    const got = ep.got[0];
    assert.equal(got.method, 'POST');
    assert.equal(got.url, '/sns');
    assert.equal(got.body, n.body);
    for (const [k, v] of Object.entries(n.headers)) assert.equal(got.headers[k], v, k);
    assert.equal(got.headers['content-length'], String(Buffer.byteLength(n.body)));
    assert.equal(got.headers.connection, 'close');

    const r2 = await deliver(ep.url, n, { timeoutMs: WAIT_MS });
    assert.deepEqual([r2.status, r2.body], [403, 'nope']);
  } finally {
    await ep.close();
  }
});

test('deliver: a hung endpoint is cut at timeoutMs; a closed port rejects', async () => {
  const ep = await startEndpoint([{ hang: true }]);
  try {
    const t0 = Date.now();
    await assert.rejects(deliver(ep.url, sns.notification({ message: 'm' }), { timeoutMs: 300 }), (e) => e.code === 'ETIMEDOUT');
    assert.ok(Date.now() - t0 < WAIT_MS);
  } finally {
    await ep.close();
  }
  await assert.rejects(deliver(ep.url, sns.notification({ message: 'm' }), { timeoutMs: WAIT_MS }), (e) => e.code === 'ECONNREFUSED');
});

test('deliverWithRetries retries 5xx and timeouts with the same message id, not 4xx, and is bounded', async () => {
  const ep = await startEndpoint([{ status: 500 }, { hang: true }, { status: 503 }, { status: 200 }]);
  try {
    const n = sns.notification({ message: 'm' });
    const r = await deliverWithRetries(ep.url, n, { retries: 3, delayMs: 10, timeoutMs: 300 });
    assert.equal(r.delivered, true);
    assert.equal(r.status, 200);
    assert.deepEqual(r.attempts, [{ status: 500, error: null }, { status: null, error: 'ETIMEDOUT' },
      { status: 503, error: null }, { status: 200, error: null }]);
    assert.equal(ep.got.length, 4);
    assert.equal(new Set(ep.got.map((g) => g.headers['x-amz-sns-message-id'])).size, 1);
    assert.equal(new Set(ep.got.map((g) => g.body)).size, 1);

  } finally {
    await ep.close();
  }

  const ep2 = await startEndpoint([{ status: 400 }, { status: 500 }, { status: 500 }, { status: 500 }]);
  try {
    const n = sns.notification({ message: 'm' });
    const r = await deliverWithRetries(ep2.url, n, { retries: 3 });
    assert.deepEqual([r.delivered, r.status, r.attempts.length], [false, 400, 1], '4xx is final');
    const r2 = await deliverWithRetries(ep2.url, n, { retries: 2 });
    assert.deepEqual([r2.delivered, r2.status, r2.attempts.length], [false, 500, 3], 'retries exhausted');
  } finally {
    await ep2.close();
  }
  await assert.rejects(deliverWithRetries('http://127.0.0.1:1/', {}, { retries: 101 }), RangeError);
});

test('deliver over HTTPS to an endpoint using serverTls, trusting the stand-in CA', async () => {
  const ep = await startEndpoint([{ status: 204 }], {
    tls: { cert: sns.serverTls.certPem, key: readFileSync(sns.serverTls.keyFile) },
  });
  try {
    const r = await sns.deliver(ep.url, sns.notification({ message: 'm' }), { timeoutMs: WAIT_MS });
    assert.equal(r.status, 204);
    await assert.rejects(deliver(ep.url, sns.notification({ message: 'm' }), { timeoutMs: WAIT_MS }));
  } finally {
    await ep.close();
  }
});

// ---- wiring -------------------------------------------------------------------------------------------

test('without {sns} the stand-in has no SNS fake and no sns fault queue', async () => {
  const plain = await startStandin();
  try {
    assert.equal(plain.sns, null);
    assert.throws(() => plain.faults.push('sns', { status: 500 }), /unknown service/);
    assert.deepEqual(Object.keys(plain.endpoints).sort(), ['bedrock', 'dynamodb', 'imds', 'sms', 'sqs']);
  } finally {
    await plain.close();
  }
});

test('close() removes the temporary PKI directory', async () => {
  const s = await startSnsFake();
  const dir = path.dirname(s.caFile);
  assert.ok(existsSync(dir));
  await s.close();
  assert.equal(existsSync(dir), false);
});

test('CLI --sns prints the CA file and the cert host, and cleans up on SIGTERM', async () => {
  const child = spawn(process.execPath, [path.join(standinDir, 'standin.mjs'), '--sns'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  const exited = once(child, 'exit');
  try {
    const rl = createInterface({ input: child.stdout });
    const line = await Promise.race([
      once(rl, 'line').then(([l]) => l),
      exited.then(() => { throw new Error(`stand-in exited early: ${stderr}`); }),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no JSON line in time')), WAIT_MS).unref()),
    ]);
    const info = JSON.parse(line);
    assert.equal(info.sns.certHost, '127.0.0.1');
    assert.equal(info.sns.signingCertHost, '^127\\.0\\.0\\.1$');
    assert.ok(existsSync(info.sns.caFile));
    assert.match(info.sns.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(info.sns.certUrls.good, /^https:\/\/127\.0\.0\.1:\d+\/SimpleNotificationService-[0-9a-f]+\.pem$/);
    const r = await httpsGet(info.sns.certUrls.good, { ca: readFileSync(info.sns.caFile) });
    assert.equal(r.status, 200);
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
    assert.equal(existsSync(info.sns.caFile), false, 'PKI removed on exit');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
