// Synthesizes stacks with IamCredentialsRotator offline and asserts the templates; runs cdk-nag's
// AwsSolutions pack on them and, through CfnInclude, on deploy/cloudformation. The synthesized
// templates of a few prop sets are checked in under testdata/ (deploy/cdk_test.go compares their
// IAM policies with `keycycle policy`); this test fails when they are out of date and rewrites
// them with KEYCYCLE_UPDATE=1.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

import { App, Aspects, DefaultStackSynthesizer, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { CfnInclude } from 'aws-cdk-lib/cloudformation-include';
import { AwsSolutionsChecks } from 'cdk-nag';

import { IamCredentialsRotator, IamCredentialsRotatorProps } from '../index';

const root = path.join(__dirname, '..', '..'); // deploy/cdk
const packagePath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'keycycle-cdk-')), 'keycycle-lambda.zip');
fs.writeFileSync(packagePath, 'a stand-in for the package go run ./deploy/build writes');

function newStack(): Stack {
  const app = new App({ analyticsReporting: false });
  const stack = new Stack(app, 'Rotation', { synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }) });
  Aspects.of(stack).add(new AwsSolutionsChecks());
  return stack;
}

function handler(stack: Stack): lambda.IFunction {
  return lambda.Function.fromFunctionAttributes(stack, 'Handler', {
    functionArn: 'arn:aws:lambda:eu-west-1:210987654321:function:credentials-handler',
    role: iam.Role.fromRoleArn(stack, 'HandlerRole', 'arn:aws:iam::210987654321:role/credentials-handler'),
    sameEnvironment: true,
  });
}

type Extra = Omit<IamCredentialsRotatorProps, 'credentialsHandler' | 'users'> & { users?: IamCredentialsRotatorProps['users'] };

function synth(extra: Extra = {}): { stack: Stack; template: Template; rotator: IamCredentialsRotator } {
  const stack = newStack();
  const rotator = new IamCredentialsRotator(stack, 'Rotator', {
    users: [{ username: 'homer' }, { username: 'marge', metadata: 'team=billing' }],
    credentialsHandler: handler(stack),
    scheduleDuration: Duration.hours(1),
    cleanupWaitDuration: Duration.minutes(5),
    packagePath,
    ...extra,
  });
  return { stack, template: Template.fromStack(stack), rotator };
}

function env(template: Template): Record<string, unknown> {
  const fns = template.findResources('AWS::Lambda::Function');
  const [fn] = Object.values(fns) as { Properties: { Environment: { Variables: Record<string, unknown> } } }[];
  return fn.Properties.Environment.Variables;
}

/** The configuration document with its tokens shown as ${...}. */
function configText(v: unknown): string {
  if (typeof v === 'string') return v;
  const join = (v as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  return join[1].map((p) => (typeof p === 'string' ? p : `\${${JSON.stringify(p)}}`)).join(join[0]);
}

function nagFindings(stack: Stack): string[] {
  const a = Annotations.fromStack(stack);
  return [...a.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')), ...a.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))]
    .map((m) => `${m.id}: ${m.entry.data}`);
}

test('the example of the issue: schedule, queues, handler, cleanup wait', () => {
  const { template } = synth();
  template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)', State: 'ENABLED' });
  template.hasResourceProperties('AWS::Lambda::Function', { Runtime: 'provided.al2023', Handler: 'bootstrap', Architectures: ['arm64'], FunctionName: 'keycycle' });
  template.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'keycycle.fifo', FifoQueue: true });
  template.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'keycycle-cleanup', RedrivePolicy: Match.anyValue() });
  template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
  template.allResourcesProperties('AWS::Lambda::EventSourceMapping', { FunctionResponseTypes: ['ReportBatchItemFailures'], BatchSize: 10 });
  const e = env(template);
  assert.equal(e.KEYCYCLE_CLEANUP_WAIT_SECONDS, '300');
  assert.equal(e.KEYCYCLE_DRY_RUN, 'true');
  assert.deepEqual(e.KEYCYCLE_ACCOUNTS, { Ref: 'AWS::AccountId' });
  const cfg = configText(e.KEYCYCLE_CONFIG_YAML);
  for (const want of ['rotate_after: 55m', 'deactivate_after: 5m', 'guard_window: 5m', 'delete_after: 5m', '- users: ["homer", "marge"]',
    '- type: lambda', 'function: "arn:aws:lambda:eu-west-1:210987654321:function:credentials-handler"', '"marge": "team=billing"',
    'readers: ["arn:aws:iam::210987654321:role/credentials-handler"]']) {
    assert.ok(cfg.includes(want), `configuration lacks ${want}:\n${cfg}`);
  }
  assert.ok(!cfg.includes('"homer": '), 'homer has no metadata');
  // The handler may read the listed users' secrets, and nothing else.
  template.hasResourceProperties('AWS::IAM::Policy', {
    Roles: ['credentials-handler'],
    PolicyDocument: { Statement: [Match.objectLike({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'] })] },
  });
  // No managed policy, no statement CDK would add by itself: the roles hold keycycle's policy only.
  for (const role of Object.values(template.findResources('AWS::IAM::Role')) as { Properties: Record<string, unknown> }[]) {
    assert.equal(role.Properties.ManagedPolicyArns, undefined);
  }
  assert.equal(Object.keys(template.findResources('AWS::IAM::Policy')).length, 1, 'only the handler\'s grant is a separate policy');
  template.hasResourceProperties('AWS::IAM::Role', { RoleName: 'KeycycleMember' });
});

test('props: defaults, thresholds, organization, notifications', () => {
  const stack = newStack();
  const topic = new sns.Topic(stack, 'Events', { enforceSSL: true, masterKey: new kms.Key(stack, 'TopicKey', { enableKeyRotation: true }) });
  new IamCredentialsRotator(stack, 'Rotator', {
    users: [{ username: 'homer' }], credentialsHandler: handler(stack), packagePath, dryRun: false,
    scheduleDuration: Duration.days(1), cleanupWaitDuration: Duration.hours(2),
    thresholds: { rotateAfter: Duration.days(30), hardLimit: Duration.days(45), deleteAfter: Duration.days(1) },
    organization: { organizationalUnits: ['ou-ab12-34cd56ef'], organizationId: 'o-abc123def4' },
    notifications: { topic, senderEmail: 'keycycle@example.com', adminEmail: 'sec@example.com' },
  });
  const template = Template.fromStack(stack);
  const e = env(template);
  assert.equal(e.KEYCYCLE_OUS, 'ou-ab12-34cd56ef');
  assert.equal(e.KEYCYCLE_ACCOUNTS, undefined);
  assert.equal(e.KEYCYCLE_DRY_RUN, 'false');
  assert.equal(e.KEYCYCLE_CLEANUP_WAIT_SECONDS, '7200');
  const cfg = configText(e.KEYCYCLE_CONFIG_YAML);
  for (const want of ['rotate_after: 30d', 'hard_limit: 45d', 'delete_after: 1d', 'deactivate_after: 2h', 'email: {from: "keycycle@example.com"}',
    'owners: {fallback: "sec@example.com"}', 'sns: {topic_arn: ']) {
    assert.ok(cfg.includes(want), `configuration lacks ${want}:\n${cfg}`);
  }
  template.resourcePropertiesCountIs('AWS::IAM::Role', { RoleName: 'KeycycleMember' }, 0);
  template.hasOutput('*', { Description: Match.stringLikeRegexp('member role policy') });
  template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 day)' });
  assert.deepEqual(nagFindings(stack), []);
});

test('props are validated at synth time', () => {
  const cases: [string, Partial<IamCredentialsRotatorProps> & Record<string, unknown>, RegExp][] = [
    ['cleanup not shorter than the schedule', { cleanupWaitDuration: Duration.hours(1) }, /cleanupWaitDuration \(1 hour\) must be shorter than scheduleDuration/],
    ['cleanup in seconds', { cleanupWaitDuration: Duration.seconds(90) }, /cleanupWaitDuration must be a whole number of minutes/],
    ['no users', { users: [] }, /users: list at least one user/],
    ['unknown user field', { users: [{ username: 'homer', team: 'x' } as never] }, /users\[0\]: unknown field team/],
    ['not a user name', { users: [{ username: 'homer simpson' }] }, /users\[0\].username "homer simpson" is not an IAM user name/],
    ['a user twice', { users: [{ username: 'homer' }, { username: 'homer' }] }, /users\[1\].username homer is listed twice/],
    ['unknown prop', { scheduleDurations: Duration.hours(2) }, /unknown prop scheduleDurations/],
    ['hard limit before rotation', { thresholds: { hardLimit: Duration.minutes(30) } }, /hardLimit must be longer than thresholds.rotateAfter/],
    ['bad account', { organization: { accounts: ['1234'] } }, /organization.accounts\[0\] "1234" is not a 12-digit account id/],
    ['organization without id', { organization: {} }, /organization.organizationId is required/],
    ['bad e-mail', { notifications: { senderEmail: 'nobody' } }, /notifications.senderEmail "nobody" is not an e-mail address/],
    ['package missing', { packagePath: '/nonexistent/keycycle-lambda.zip' }, /go run \.\/deploy\/build/],
  ];
  for (const [name, extra, want] of cases) {
    assert.throws(() => synth(extra as Extra), want, name);
  }
});

test('cdk-nag AwsSolutions: no unsuppressed finding on the construct', () => {
  const { stack } = synth({ secretsKey: undefined });
  assert.deepEqual(nagFindings(stack), []);
});

test('cdk-nag AwsSolutions: no unsuppressed finding on deploy/cloudformation', () => {
  for (const [file, parameters] of [
    ['keycycle.yaml', { CodeS3Bucket: 'artifacts', CreateSNSTopic: 'true', CreateKMSKey: 'true', AWSOrgID: 'o-abc123def4', CreateReportBucket: 'true' }],
    ['member-role.yaml', { HubRoleArn: 'arn:aws:iam::210987654321:role/keycycle-hub' }],
  ] as const) {
    const stack = newStack();
    new CfnInclude(stack, 'Template', { templateFile: path.join(root, '..', 'cloudformation', file), parameters });
    assert.deepEqual(nagFindings(stack), [], file);
  }
});

// The prop sets deploy/cdk_test.go checks against `keycycle policy`.
const checked: Record<string, () => Stack> = {
  'single-account': () => synth().stack,
  'organization-accounts': () => {
    const stack = newStack();
    new IamCredentialsRotator(stack, 'Rotator', {
      users: [{ username: 'deploy-bot', metadata: '{"repo":"acme/api"}' }], credentialsHandler: handler(stack), packagePath,
      cleanupWaitDuration: Duration.minutes(10), name: 'rotator', memberRoleName: 'KeycycleWorker', externalId: 'kc-7f3a',
      organization: { accounts: ['111111111111', '222222222222'] },
      secretsKey: kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:eu-west-1:210987654321:key/5c1f9d9e-8a1b-4c55-9f27-3e2d1c0b9a87'),
      notifications: { senderEmail: 'keycycle@example.com' },
    });
    return stack;
  },
  'organization': () => {
    const stack = newStack();
    new IamCredentialsRotator(stack, 'Rotator', {
      users: [{ username: 'homer' }], credentialsHandler: handler(stack), packagePath,
      organization: { organizationId: 'o-abc123def4', excludeAccounts: ['333333333333'] },
      notifications: { topic: sns.Topic.fromTopicArn(stack, 'Topic', 'arn:aws:sns:eu-west-1:210987654321:keycycle-events') },
    });
    return stack;
  },
};

test('checked-in synthesized templates are up to date', () => {
  for (const [name, make] of Object.entries(checked)) {
    const stack = make();
    assert.deepEqual(nagFindings(stack), [], name);
    const got = JSON.stringify(Template.fromStack(stack).toJSON(), null, 1) + '\n';
    const file = path.join(root, 'testdata', `${name}.template.json`);
    if (process.env.KEYCYCLE_UPDATE === '1') {
      fs.writeFileSync(file, got);
      continue;
    }
    const want = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    assert.ok(got === want, `${file} is out of date: run KEYCYCLE_UPDATE=1 npm test in deploy/cdk`);
  }
});
