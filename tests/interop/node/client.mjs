// Drive dosefinding.v1.TrialService from Node.js, knowing nothing but the .proto files.
//
// Usage: node client.mjs ADDRESS PROTO_ROOT < scenario.json
//
// The scenario (JSON on stdin) is {"protocol_id", "design", "cohorts", "idempotency_prefix"}:
// `design` in the proto's JSON mapping as plain objects (field names as in the .proto), `cohorts` a list of
// cohorts, each a list of {"patient_id", "toxicity"}. The script creates the trial, records each cohort at
// the dose the design recommends, asks for the decision, and prints one JSON object on stdout:
// {"trial_id", "design_sha256", "versions", "doses", "decision", "decision_response_b64"}.
// `decision_response_b64` is the GetDecisionResponse re-serialised with the .proto's own codec, so the
// caller can compare it field for field with what another client decoded.
// Set DOSEFINDING_TOKEN to send `authorization: Bearer <token>`.
// Exits 1 with {"error": {"code", "details"}} on stdout when a call fails.

import { readFileSync } from "node:fs";
import path from "node:path";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const [address, protoRoot] = process.argv.slice(2);
if (!address || !protoRoot) {
  console.error("usage: node client.mjs ADDRESS PROTO_ROOT < scenario.json");
  process.exit(2);
}
const scenario = JSON.parse(readFileSync(0, "utf8"));

const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: false };
const definition = protoLoader.loadSync(
  [path.join(protoRoot, "dosefinding/v1/trial_service.proto")],
  { ...LOADER_OPTIONS, includeDirs: [protoRoot] },
);
const loaded = grpc.loadPackageDefinition(definition);
const TrialService = loaded.dosefinding.v1.TrialService;
const methods = definition["dosefinding.v1.TrialService"];
const client = new TrialService(address, grpc.credentials.createInsecure());

function metadata() {
  const md = new grpc.Metadata();
  if (process.env.DOSEFINDING_TOKEN) md.set("authorization", `Bearer ${process.env.DOSEFINDING_TOKEN}`);
  return md;
}

function call(name, request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 30_000);
    client[name](request, metadata(), { deadline }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

async function main() {
  const prefix = scenario.idempotency_prefix;
  const created = await call("CreateTrial", {
    protocol_id: scenario.protocol_id,
    design: scenario.design,
    idempotency_key: `${prefix}-create`,
  });
  let trial = created.trial;
  const versions = [trial.version];
  const doses = [];
  let next = (await call("GetDecision", { trial_id: trial.trial_id })).decision.recommended_dose;
  for (const [index, patients] of scenario.cohorts.entries()) {
    const recorded = await call("RecordOutcomes", {
      trial_id: trial.trial_id,
      expected_version: trial.version,
      idempotency_key: `${prefix}-cohort-${index}`,
      dose: next,
      patients,
    });
    doses.push(next);
    trial = recorded.trial;
    versions.push(trial.version);
    next = recorded.decision.recommended_dose;
  }
  const answer = await call("GetDecision", { trial_id: trial.trial_id });
  const bytes = methods.GetDecision.responseSerialize(answer);
  process.stdout.write(JSON.stringify({
    trial_id: trial.trial_id,
    design_sha256: trial.design_sha256,
    versions,
    doses,
    decision: answer.decision,
    decision_response_b64: Buffer.from(bytes).toString("base64"),
  }) + "\n");
}

main()
  .then(() => client.close())
  .catch((error) => {
    process.stdout.write(JSON.stringify({ error: { code: error.code, details: error.details } }) + "\n");
    client.close();
    process.exit(1);
  });
