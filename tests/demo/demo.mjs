// make demo: one conversation, end to end, on this machine.
//
// Starts the local AWS stand-in (DynamoDB via dynalite, a scripted Bedrock
// agent, the SMS API, an SNS publisher with its own test CA) and twowayd
// pointed at it, then plays a resident texting the property-management
// number. Every message goes in as a signed SNS delivery; every answer is what
// twowayd sent back through SendTextMessage.
import { startStandin } from '../standin/standin.mjs';
import { configText, ownNumber, startDaemon, tempDir, waitFor } from '../integration/lib/daemon.mjs';

const RESIDENT = '+14255550123';
const OUR_NUMBER = '+18005550199';
const TABLE = 'twowayd-consent';

// The demo agent stands in for the supervisor agent and its collaborators
// (scheduling, information, notes, chit-chat).
function demoAgent(text) {
  const t = text.toLowerCase();
  if (/schedul|appointment|book/.test(t))
    return 'I can book a viewing or a maintenance visit. We have Tuesday 10:00 or Thursday 14:00 open. Which suits you?';
  if (/hours|open|when/.test(t))
    return 'The leasing office is open Monday to Friday, 9:00 to 17:00, and Saturday 10:00 to 14:00.';
  if (/^add note|note:/.test(t))
    return 'Noted: you prefer mornings. The team will see this before your next visit.';
  return 'Hi! I am the Maple Court assistant. I can schedule appointments, answer questions about the property, and take notes for the team.';
}

const say = (who, text) => console.log(`${who.padEnd(10)} ${text}`);

async function main() {
  const standin = await startStandin({ sns: true, consentTable: TABLE });
  ownNumber(standin, OUR_NUMBER);
  const { dir, cleanup } = tempDir('twowayd-demo-');
  let daemon;
  try {
    standin.bedrock.setResponder((input) => demoAgent(input));
    const config = configText({
      spoolDir: dir,
      tail: `[aws]\nca_bundle = ${standin.sns.caFile}\n[dispatch]\nretry_initial_ms = 200\n`,
    }).replace(/topic_arns = .*/, `topic_arns = ${standin.sns.topicArn}\nsigning_cert_host = ${standin.sns.signingCertHostRegex}`)
      .replace('table = twowayd-consent', `table = ${TABLE}`);
    daemon = await startDaemon({ dir, config, env: standin.env() });
    if (daemon.exit) throw new Error(`twowayd exited: ${daemon.stderrText.join('\n')}`);
    const url = `http://127.0.0.1:${daemon.port}/sns`;
    console.log(`twowayd ${daemon.port ? 'listening on ' + url : ''} — stand-in endpoints: ${Object.values(standin.endpoints).join(' ')}\n`);

    const conversation = ['Hello', 'Schedule appointment', 'What are your hours?', 'Add note: prefer mornings', 'STOP', 'Hello', 'START'];
    for (const body of conversation) {
      const sentBefore = standin.sms.sent().length;
      const agentBefore = standin.bedrock.invocations().length;
      say('resident', body);
      const msg = standin.sns.notification({ message: standin.sns.inboundSms({ from: RESIDENT, to: OUR_NUMBER, body }) });
      const r = await standin.sns.deliver(url, msg);
      if (r.status !== 200) throw new Error(`delivery answered ${r.status}: ${r.body}`);
      const inbound = msg.json.Message && JSON.parse(msg.json.Message).inboundMessageId;
      // Wait until the daemon has finished with this message: a reply sent, or
      // (for a blocked sender) the row logged as blocked.
      await waitFor(() => standin.sms.sent().length > sentBefore ||
        daemon.logs.some((l) => l.inbound_message_id === inbound && /blocked/.test(l.event)),
        { timeoutMs: 15000, what: `the outcome of "${body}"` });
      const sent = standin.sms.sent().slice(sentBefore);
      if (sent.length === 0) say('twowayd', '(no reply: the number is opted out, the agent was not called)');
      for (const s of sent) say('twowayd', s.MessageBody ?? s.body?.MessageBody);
      if (standin.bedrock.invocations().length > agentBefore) console.log(`${''.padEnd(10)} [answered by the Bedrock agent]`);
      if (/^(STOP|START)$/.test(body)) {
        const item = await standin.dynamodb.call('GetItem', { TableName: TABLE, Key: { phone_number: { S: RESIDENT } }, ConsistentRead: true });
        const flat = Object.fromEntries(Object.entries(item.Item ?? {}).filter(([k]) => k !== 'consent_history').map(([k, v]) => [k, v.S ?? v.N ?? JSON.stringify(v)]));
        console.log(`${''.padEnd(10)} [consent table] ${JSON.stringify(flat)}`);
      }
      console.log();
    }
    const exit = await daemon.stop();
    console.log(`twowayd stopped with exit code ${exit.code}; ${standin.sms.sent().length} SMS sent, ${standin.bedrock.invocations().length} agent calls, every request SigV4-verified: ${standin.rejected().length === 0}`);
    if (exit.code !== 0) process.exitCode = 1;
  } catch (e) {
    console.error(`demo failed: ${e.message}`);
    if (daemon) console.error(daemon.stderrText.slice(-20).join('\n'));
    process.exitCode = 1;
  } finally {
    if (daemon && !daemon.exit) await daemon.stop();
    await standin.close();
    cleanup();
  }
}

await main();
