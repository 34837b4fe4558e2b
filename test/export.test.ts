// `picoflow export FILE --to argo`: the real CLI's manifest, parsed as YAML (or JSON) and
// validated against Argo's CRD schemas (@kubernetes-models/argo-workflows), for every example
// and every task type; secrets only as references, never as values; what cannot map refused
// with its position; the options' errors.

import { describe, expect, test } from "bun:test";
import { CronWorkflow, Workflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1";
import { chmodSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { cli, sandboxMaker, type Sandbox } from "./helpers.ts";

const EXAMPLES = resolve(import.meta.dir, "../examples");
const sandbox = sandboxMaker();

type Json = Record<string, any>;

/** The manifest on stdout, parsed and checked against the CRD's schema (throws with the schema's words). */
function manifestOf(stdout: string): Json {
  const obj = parse(stdout) as Json;
  if (obj.kind === "CronWorkflow") new CronWorkflow(obj as any).validate();
  else if (obj.kind === "Workflow") new Workflow(obj as any).validate();
  else throw new Error(`unexpected kind ${obj.kind}`);
  return obj;
}

const specOf = (m: Json): Json => (m.kind === "CronWorkflow" ? m.spec.workflowSpec : m.spec);
const template = (m: Json, name: string): Json => specOf(m).templates.find((t: Json) => t.name === name);

async function exportOk(sb: Sandbox, file: string, args: string[] = [], env: Record<string, string> = {}) {
  const r = await cli(sb, ["export", file, "--to", "argo", ...args], env);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return { ...r, manifest: manifestOf(r.stdout) };
}

describe("every example", () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".yaml"));
  for (const f of files) {
    test(`${f} exports to a manifest Argo's schema accepts`, async () => {
      const sb = sandbox();
      // smoke.yaml requires its server's URL (it is written into the manifest, not a secret).
      const { manifest, stderr } = await exportOk(sb, join(EXAMPLES, f), [], { PICOFLOW_SMOKE_URL: "http://127.0.0.1:8080" });
      expect(manifest.apiVersion).toBe("argoproj.io/v1alpha1");
      const spec = specOf(manifest);
      expect(spec.entrypoint).toBe("main");
      expect(template(manifest, "main").dag.tasks.length).toBeGreaterThan(0);
      expect(stderr).not.toContain("error");
    });
  }

  test("--format json is the same manifest, as JSON", async () => {
    const sb = sandbox();
    const yaml = await exportOk(sb, join(EXAMPLES, "heartbeat.yaml"));
    const json = await cli(sb, ["export", join(EXAMPLES, "heartbeat.yaml"), "--to", "argo", "--format", "json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(yaml.manifest);
  });
});

describe("the mapping", () => {
  const SECRETS = { DB_PASS: "hunter2-db-secret", API_KEY: "key-abc-123456", NAS_PASSWORD: "nas-pass-xyz-789", NAS_USER: "pi" };

  /** A workflow with every task type and every mapped field; its secrets from ${VAR}, env_file and secrets:. */
  function full(sb: Sandbox): string {
    const envFile = sb.file("app.env", `DB_PASS=${SECRETS.DB_PASS}\nAPI_KEY=${SECRETS.API_KEY}\n`);
    chmodSync(envFile, 0o600);
    return sb.workflow(`name: Full_Flow
description: every kind of task
schedule: "0 15 3 * * MON-FRI"
timezone: Europe/Berlin
env:
  BACKUP_DIR: /mnt/usb/backup
env_file: ${envFile}
secrets: [NAS_PASSWORD]
config:
  max_parallel: 3
  fail_fast: false
tasks:
  - name: Dump_DB
    type: shell
    retry: 2
    timeout: 120
    config:
      command: /bin/echo
      args: ["--password=\${DB_PASS}", "--out=\${BACKUP_DIR}/db.sql", "cost: $$5", "run {{ run.id }}"]
      workdir: /tmp
      env:
        PGHOST: db.local
  - name: rotate
    type: shell
    depends_on: [Dump_DB]
    continue_on_failure: true
    config:
      shell: /bin/sh
      script: |
        for f in \${BACKUP_DIR}/*.sql; do gzip -9 "\${f}"; done
  - name: copy
    type: ssh
    depends_on: [rotate]
    config:
      host: nas.local
      port: 2222
      user: \${NAS_USER}
      key_path: ~/.ssh/nas_key
      command: "rsync -a \${BACKUP_DIR} /volume1/"
  - name: check
    type: http
    depends_on: [copy]
    config:
      url: "https://nas.local/api/health"
      method: get
      expect_status: [200, 204]
      expect_body: '"status":\\s*"ok"'
      insecure: true
      headers:
        X-Api-Key: "\${API_KEY}"
        Accept: application/json
      auth: { username: admin, password: "\${NAS_PASSWORD}" }
on_failure:
  - name: alert
    type: http
    config:
      url: https://hooks.example.com/alert
      method: POST
      body: { text: "{{ run.status }}" }
on_success:
  - name: cleanup
    type: shell
    config:
      command: /bin/echo
      args: ["done"]
on_exit:
  - name: always
    type: shell
    config:
      command: /bin/true
`);
  }

  test("every task type, retry, timeout, continue_on_failure, handlers and a schedule with its time zone", async () => {
    const sb = sandbox();
    const { manifest: m } = await exportOk(sb, full(sb), ["--image", "registry.local/tools:1", "--ssh-image", "registry.local/ssh:1", "--namespace", "pis"], SECRETS);
    expect(m.kind).toBe("CronWorkflow");
    expect(m.metadata).toMatchObject({ name: "full-flow", namespace: "pis" });
    expect(m.spec).toMatchObject({ schedules: ["15 3 * * 1-5"], timezone: "Europe/Berlin", concurrencyPolicy: "Forbid" });
    const spec = specOf(m);
    expect(spec.parallelism).toBe(3);
    expect(spec.onExit).toBe("exit-handler");
    // Task names as DNS-1123 labels; the DAG with its dependencies.
    const dag = template(m, "main").dag;
    expect(dag.failFast).toBe(false);
    expect(dag.tasks.map((t: Json) => [t.name, t.dependencies ?? []])).toEqual([
      ["dump-db", []],
      ["rotate", ["dump-db"]],
      ["copy", ["rotate"]],
      ["check", ["copy"]],
    ]);
    expect(dag.tasks[1].continueOn).toEqual({ failed: true });

    const dump = template(m, "dump-db");
    expect(dump.retryStrategy).toEqual({ limit: 2, retryPolicy: "Always", backoff: { duration: "1s", factor: 2, cap: "60s" } });
    expect(dump.activeDeadlineSeconds).toBe(120);
    expect(dump.container.image).toBe("registry.local/tools:1");
    expect(dump.container.command).toEqual(["/bin/echo"]);
    // ${DB_PASS} from the Secret (Kubernetes expands $(NAME)); the workflow's env as written; $ doubled.
    expect(dump.container.args).toEqual(["--password=$(DB_PASS)", "--out=/mnt/usb/backup/db.sql", "cost: $$5", "run {{workflow.name}}"]);
    expect(dump.container.workingDir).toBe("/tmp");
    const env = Object.fromEntries(dump.container.env.map((e: Json) => [e.name, e.value ?? e.valueFrom.secretKeyRef]));
    expect(env.DB_PASS).toEqual({ name: "picoflow-full-flow", key: "DB_PASS" });
    expect(env.API_KEY).toEqual({ name: "picoflow-full-flow", key: "API_KEY" });
    expect(env.NAS_PASSWORD).toEqual({ name: "picoflow-full-flow", key: "NAS_PASSWORD" });
    expect(env.BACKUP_DIR).toBe("/mnt/usb/backup");
    expect(env.PGHOST).toBe("db.local");

    const rotate = template(m, "rotate");
    expect(rotate.script.command).toEqual(["/bin/sh", "-e"]);
    expect(rotate.script.source).toBe('for f in ${BACKUP_DIR}/*.sql; do gzip -9 "${f}"; done\n');

    const copy = template(m, "copy").container;
    expect(copy.image).toBe("registry.local/ssh:1");
    expect(copy.command).toEqual(["ssh"]);
    expect(copy.args).toContain("$(NAS_USER)@nas.local");
    expect(copy.args).toContain("2222");
    expect(copy.args).toContain("StrictHostKeyChecking=yes");
    expect(copy.args.at(-1)).toBe("rsync -a /mnt/usb/backup /volume1/");
    expect(copy.volumeMounts[0]).toMatchObject({ name: "picoflow-ssh", readOnly: true });
    expect(spec.volumes[0].secret.secretName).toBe("picoflow-full-flow-ssh");

    const check = template(m, "check").http;
    expect(check).toMatchObject({ method: "GET", url: "https://nas.local/api/health", insecureSkipVerify: true, timeoutSeconds: 30 });
    expect(check.successCondition).toBe('(response.statusCode == 200 || response.statusCode == 204) && response.body matches "\\"status\\":\\\\s*\\"ok\\""');
    const headers = Object.fromEntries(check.headers.map((h: Json) => [h.name, h.value ?? h.valueFrom.secretKeyRef]));
    expect(headers.Accept).toBe("application/json");
    expect(headers["X-Api-Key"]).toEqual({ name: "picoflow-full-flow", key: "API_KEY" });
    expect(headers.Authorization).toEqual({ name: "picoflow-full-flow", key: "check.authorization" });

    // Handlers: one exit template, each by the rule of its list, in order.
    expect(template(m, "exit-handler").dag.tasks).toEqual([
      { name: "alert", template: "alert", when: "{{workflow.status}} != Succeeded", continueOn: { failed: true } },
      { name: "cleanup", template: "cleanup", dependencies: ["alert"], when: "{{workflow.status}} == Succeeded", continueOn: { failed: true } },
      { name: "always", template: "always", dependencies: ["cleanup"], continueOn: { failed: true } },
    ]);
    expect(template(m, "alert").http.body).toBe('{"text":"{{workflow.status}}"}');
  });

  test("no secret value is written anywhere; the kubectl command to create the Secrets is", async () => {
    const sb = sandbox();
    const r = await exportOk(sb, full(sb), [], SECRETS);
    for (const v of [SECRETS.DB_PASS, SECRETS.API_KEY, SECRETS.NAS_PASSWORD, btoa(`admin:${SECRETS.NAS_PASSWORD}`)]) {
      expect(r.stdout).not.toContain(v);
      expect(r.stderr).not.toContain(v);
    }
    expect(r.stderr).toContain(`(set -a; . ${join(sb.dir, "app.env")}; kubectl create secret generic picoflow-full-flow --from-literal=DB_PASS="$DB_PASS"`);
    expect(r.stderr).toContain(`--from-literal=check.authorization="Basic $(printf '%s:%s' "admin" "\${NAS_PASSWORD}" | base64 | tr -d '\\n')"`);
    expect(r.stderr).toContain(`kubectl create secret generic picoflow-full-flow-ssh --from-file=nas_key=${join(sb.dir, ".ssh/nas_key")} --from-file=known_hosts="$HOME/.ssh/known_hosts"`);
    // What is dropped or changes is said, with its place.
    expect(r.stderr).toMatch(/:\d+:\d+: warning: on_failure\[0\]\.config\.body: \{\{ run\.status \}\} becomes \{\{workflow\.status\}\}/);
  });

  test("a workflow without a schedule is a Workflow with generateName; names that meet get distinct labels", async () => {
    const sb = sandbox();
    const file = sb.workflow(`name: names
tasks:
  - { name: Build_A, type: shell, config: { command: /bin/true } }
  - { name: build-a, type: shell, config: { command: /bin/true } }
  - { name: build_a, type: shell, depends_on: [Build_A, build-a], config: { command: /bin/true } }
  - { name: main, type: shell, config: { command: /bin/true } }
`);
    const { manifest: m } = await exportOk(sb, file);
    expect(m.kind).toBe("Workflow");
    expect(m.metadata.generateName).toBe("names-");
    const names = template(m, "main").dag.tasks.map((t: Json) => t.name);
    expect(names[1]).toBe("build-a");
    expect(new Set(names).size).toBe(4);
    for (const n of names) expect(n).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    expect(names).not.toContain("main");
    expect(template(m, "main").dag.tasks[2].dependencies).toEqual([names[0], "build-a"]);
    // Stable from one export to the next.
    expect((await exportOk(sb, file)).stdout).toBe((await exportOk(sb, file)).stdout);
  });
});

describe("what cannot map", () => {
  test("a seconds field other than 0 is an error at the schedule's position", async () => {
    const sb = sandbox();
    const file = sb.workflow(`name: fast\nschedule: "*/30 * * * * *"\ntasks:\n  - { name: a, type: shell, config: { command: /bin/true } }\n`);
    const r = await cli(sb, ["export", file, "--to", "argo"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`${file}:2:11: schedule: Argo's cron has no seconds field: this schedule's seconds field is '*/30'`);
  });

  test("schedules: a nickname stays, names and Sunday as 7 become numbers, croner's L is refused", async () => {
    const sb = sandbox();
    const wf = (schedule: string) => sb.workflow(`name: when\nschedule: "${schedule}"\ntimezone: UTC\ntasks:\n  - { name: a, type: shell, config: { command: /bin/true } }\n`);
    for (const [six, five] of [
      ["@Daily", "@daily"],
      ["0 30 6 * jan,jul 7", "30 6 * 1,7 0"],
      ["0 0 22 * * 5-7", "0 22 * * 5-6,0"],
    ]) {
      expect((await exportOk(sb, wf(six!))).manifest.spec.schedules).toEqual([five]);
    }
    const last = wf("0 0 0 L * *");
    const r = await cli(sb, ["export", last, "--to", "argo"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${last}:2:11: schedule: '0 0 0 L * *' uses what Argo's cron does not know`);
  });

  test("a credential written literally into an argument is refused; it must be a ${VAR}", async () => {
    const sb = sandbox();
    const file = sb.workflow(`name: leak
tasks:
  - { name: call, type: http, config: { url: "http://10.0.0.9/", method: GET, headers: { Authorization: "Bearer lit-token-5555" } } }
  - { name: echo, type: shell, config: { command: /bin/echo, args: ["lit-token-5555"] } }
`);
    const r = await cli(sb, ["export", file, "--to", "argo"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:4:69: tasks[1].config.args[0]: holds a secret value, which the manifest must not contain`);
    expect(r.stdout + r.stderr).not.toContain("lit-token-5555");
  });

  test("a secret in an http URL is an error naming the place; a plain variable there is written with a warning", async () => {
    const sb = sandbox();
    const file = sb.workflow(`name: urls
secrets: [HOOK_TOKEN]
tasks:
  - name: hook
    type: http
    config: { url: "https://hooks.example.com/\${HOOK_TOKEN}", method: GET }
  - name: ping
    type: http
    config: { url: "\${BASE_URL}/ping", method: GET }
`);
    const r = await cli(sb, ["export", file, "--to", "argo"], { HOOK_TOKEN: "tok-secret-4242", BASE_URL: "http://10.0.0.9" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:6:20: tasks[0].config.url: an http template's url cannot refer to a Kubernetes Secret, and this value holds a secret (\${HOOK_TOKEN})`);
    expect(r.stderr).not.toContain("tok-secret-4242");
    const ok = sb.workflow(`name: urls\ntasks:\n  - { name: ping, type: http, config: { url: "\${BASE_URL}/ping", method: GET } }\n`);
    const r2 = await exportOk(sb, ok, [], { BASE_URL: "http://10.0.0.9" });
    expect(template(r2.manifest, "ping").http.url).toBe("http://10.0.0.9/ping");
    expect(r2.stderr).toContain("warning: tasks[0].config.url: ${BASE_URL} written as its value on this machine now");
  });

  test("notify and healthcheck are dropped with a warning each", async () => {
    const sb = sandbox();
    const file = sb.workflow(`name: told
notify: { url: "https://ntfy.sh/topic-abc" }
healthcheck: https://hc-ping.com/uuid-abc
tasks:
  - { name: a, type: shell, config: { command: /bin/true } }
`);
    const r = await exportOk(sb, file);
    expect(r.stderr).toContain("warning: notify: not exported");
    expect(r.stderr).toContain("warning: healthcheck: not exported");
    expect(r.stdout).not.toContain("ntfy.sh");
    expect(r.stdout).not.toContain("hc-ping");
  });
});

describe("options and files", () => {
  test("--to is required, and argo is the only engine (exit 4, did you mean)", async () => {
    const sb = sandbox();
    const file = join(EXAMPLES, "hello.yaml");
    const none = await cli(sb, ["export", file]);
    expect(none.code).toBe(4);
    expect(none.stderr).toContain("--to is required");
    const typo = await cli(sb, ["export", file, "--to", "argp"]);
    expect(typo.code).toBe(4);
    expect(typo.stderr).toBe("picoflow: --to: 'argp' is not one of argo (did you mean 'argo'?)\n");
    const fmt = await cli(sb, ["export", file, "--to", "argo", "--format", "toml"]);
    expect(fmt.code).toBe(4);
    expect(fmt.stderr).toContain("--format: 'toml' is not one of yaml, json");
  });

  test("a missing file is exit 5, an invalid one exit 2 with every problem, as validate", async () => {
    const sb = sandbox();
    const missing = await cli(sb, ["export", join(sb.dir, "nope.yaml"), "--to", "argo"]);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain("nope.yaml: no such file");
    const bad = sb.workflow(`name: bad\ntasks:\n  - { name: a, type: shel, config: {} }\n  - { name: b, type: shell, depends_on: [c], config: { command: /bin/true } }\n`);
    const r = await cli(sb, ["export", bad, "--to", "argo"]);
    const v = await cli(sb, ["validate", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(v.stderr);
    expect(r.stdout).toBe("");
  });
});
