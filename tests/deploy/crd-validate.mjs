// Validate custom resources against their operators' CRD schemas, as compiled by
// the @kubernetes-models packages (ajv, from the upstream CRDs). Usage:
//   node crd-validate.mjs resources.json   (a JSON list of resources)
// Prints a JSON list: {kind, name, status: valid | invalid | no-schema, error?}.
import { readFileSync } from "node:fs";

const PACKAGES = {
  "monitoring.coreos.com": ["@kubernetes-models/prometheus-operator"],
  "argoproj.io": ["@kubernetes-models/argo-rollouts", "@kubernetes-models/argo-cd"],
  "security.istio.io": ["@kubernetes-models/istio"],
  "keda.sh": ["@kubernetes-models/keda"],
  "gateway.networking.k8s.io": ["@kubernetes-models/gateway-api"],
};

const results = [];
for (const doc of JSON.parse(readFileSync(process.argv[2], "utf8"))) {
  const [group, version] = doc.apiVersion.split("/");
  const entry = { kind: doc.kind, name: doc.metadata?.name ?? "?", apiVersion: doc.apiVersion, status: "no-schema" };
  for (const pkg of PACKAGES[group] ?? []) {
    let module;
    try {
      module = await import(`${pkg}/${group}/${version}/${doc.kind}`);
    } catch {
      continue;
    }
    try {
      new module[doc.kind](doc).validate();
      entry.status = "valid";
    } catch (error) {
      entry.status = "invalid";
      entry.error = String(error.message ?? error);
    }
    break;
  }
  results.push(entry);
}
console.log(JSON.stringify(results));
