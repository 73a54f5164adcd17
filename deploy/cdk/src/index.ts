// IamCredentialsRotator: keycycle as an AWS CDK v2 construct, for users of the CDK construct
// that rotates a list of IAM users' access keys, hands each new key to a handler Lambda and
// removes the old key after a short cleanup wait. docs/deploy.md ("CDK") describes it.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Aws, CfnOutput, Duration, Stack, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

import { hubStatements, memberStatements, PolicyInputs, Statement } from './policy';

export { hubStatements, memberStatements } from './policy';

/** One IAM user whose access key is rotated. */
export interface RotatorUser {
  /** The IAM user name. */
  readonly username: string;
  /** Passed to the handler as `metadata`, unchanged. */
  readonly metadata?: string;
}

/** keycycle's thresholds (docs/configuration.md); whole minutes. */
export interface RotatorThresholds {
  /** A key this old is rotated. Default: scheduleDuration minus cleanupWaitDuration, so every scheduled run rotates each user. */
  readonly rotateAfter?: Duration;
  /** An old key is deleted this long after it was deactivated. Default: cleanupWaitDuration. */
  readonly deleteAfter?: Duration;
  /** An old key this old is deactivated even when still in use (never a user's last working key). Default: off. */
  readonly hardLimit?: Duration;
}

/** Work on the accounts of an AWS Organization instead of the stack's own account. */
export interface RotatorOrganization {
  /** Account ids; with neither accounts nor organizationalUnits, every account of the organization. */
  readonly accounts?: string[];
  /** Organizational unit ids whose accounts are worked on, recursively. */
  readonly organizationalUnits?: string[];
  /** Account ids (globs) to leave alone. */
  readonly excludeAccounts?: string[];
  /** The organization id: member roles of its accounts may invoke the handler. Required unless accounts are listed. */
  readonly organizationId?: string;
}

/** Where keycycle tells people what happened (never a secret). */
export interface RotatorNotifications {
  /** Receives one JSON message per event. */
  readonly topic?: sns.ITopic;
  /** SES-verified sender of the owners' notices. */
  readonly senderEmail?: string;
  /** Receives the notices of users without an owner address. */
  readonly adminEmail?: string;
}

export interface IamCredentialsRotatorProps {
  /** The users whose access keys are rotated; no other user is touched (or may be, by the roles). */
  readonly users: RotatorUser[];
  /** Invoked with {username, secretName, metadata} right after each new key is stored; its failure rolls the rotation back. */
  readonly credentialsHandler: lambda.IFunction;
  /** How often the users are planned. Default: one hour. */
  readonly scheduleDuration?: Duration;
  /** The old key is retired this long after the handler succeeded; less than scheduleDuration. Default: 5 minutes. */
  readonly cleanupWaitDuration?: Duration;

  /** keycycle: thresholds beyond the schedule and the cleanup wait. */
  readonly thresholds?: RotatorThresholds;
  /** keycycle: work across an organization (member roles deployed in each account). Default: the stack's account. */
  readonly organization?: RotatorOrganization;
  /** keycycle: plan and report only, change nothing. Default: true (switch it off after reading the plans in the logs). */
  readonly dryRun?: boolean;
  /** keycycle: notifications. */
  readonly notifications?: RotatorNotifications;
  /** keycycle: the Lambda package `go run ./deploy/build` writes. Default: dist/keycycle-lambda.zip of the repository. */
  readonly packagePath?: string;
  /** keycycle: names the function, its log group /aws/lambda/<name> and queues <name>.fifo, <name>-cleanup. Default: keycycle. */
  readonly name?: string;
  /** keycycle: the member role assumed in each account (created here for the stack's own account). Default: KeycycleMember. */
  readonly memberRoleName?: string;
  /** keycycle: ExternalId presented to the member roles. */
  readonly externalId?: string;
  /** keycycle: KMS key of the secrets. Default: aws/secretsmanager. */
  readonly secretsKey?: kms.IKey;
}

const knownProps = new Set(['users', 'credentialsHandler', 'scheduleDuration', 'cleanupWaitDuration', 'thresholds', 'organization',
  'dryRun', 'notifications', 'packagePath', 'name', 'memberRoleName', 'externalId', 'secretsKey']);
const knownUserProps = new Set(['username', 'metadata']);
const iamUserName = /^[\w+=,.@-]{1,64}$/;
const accountId = /^\d{12}$/;
const ouId = /^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/;
const orgId = /^o-[a-z0-9]{10,32}$/;
const email = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;
const deploymentName = /^[A-Za-z0-9_-]{1,54}$/;

/** The state tag prefix keycycle records its work under (internal/config default). */
const statePrefix = 'keycycle:';
/** The secret name template of the construct's deployments. */
export const secretNameTemplate = 'keycycle/{{account}}/{{user}}';

/** keycycle's duration format: whole minutes as d, h, m. */
function keycycleDuration(d: Duration, field: string): string {
  const secs = d.toSeconds();
  if (secs <= 0 || secs % 60 !== 0) {
    throw new Error(`IamCredentialsRotator: ${field} must be a positive whole number of minutes, got ${d.toHumanString()}`);
  }
  let m = secs / 60;
  const days = Math.floor(m / 1440);
  m -= days * 1440;
  const hours = Math.floor(m / 60);
  m -= hours * 60;
  return `${days ? `${days}d` : ''}${hours ? `${hours}h` : ''}${m ? `${m}m` : ''}`;
}

const quote = (s: string) => JSON.stringify(s); // a YAML double-quoted scalar

/**
 * keycycle's Lambda (schedule, SQS worker, cleanup follow-ups), its queues, its roles, and the
 * configuration that rotates exactly the listed users' keys through the handler.
 */
export class IamCredentialsRotator extends Construct {
  /** The keycycle function. */
  public readonly function: lambda.Function;
  /** The function's role (the hub role the member roles trust). */
  public readonly hubRole: iam.Role;
  /** The member role in the stack's account (absent with an organization: deploy one per account from memberPolicy). */
  public readonly memberRole?: iam.Role;
  /** The member role's policy, for member roles deployed in each account of an organization. */
  public readonly memberPolicy: iam.PolicyDocument;
  public readonly workQueue: sqs.Queue;
  public readonly cleanupQueue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  /** The configuration the function runs with (YAML; tokens resolve at deployment). */
  public readonly configYaml: string;

  constructor(scope: Construct, id: string, props: IamCredentialsRotatorProps) {
    super(scope, id);
    validate(props);
    const schedule = props.scheduleDuration ?? Duration.hours(1);
    const cleanupWait = props.cleanupWaitDuration ?? Duration.minutes(5);
    const name = props.name ?? 'keycycle';
    const memberRoleName = props.memberRoleName ?? 'KeycycleMember';
    const dryRun = props.dryRun ?? true;
    const org = props.organization;
    const th = props.thresholds ?? {};
    const rotateAfter = th.rotateAfter ?? Duration.minutes(schedule.toMinutes() - cleanupWait.toMinutes());
    const deleteAfter = th.deleteAfter ?? cleanupWait;
    const discovery: PolicyInputs['discovery'] = !org ? 'accounts' : org.accounts?.length ? 'accounts'
      : org.organizationalUnits?.length ? 'ous' : 'organization';

    const packagePath = props.packagePath ?? path.join(__dirname, '..', '..', '..', 'dist', 'keycycle-lambda.zip');
    if (!fs.existsSync(packagePath)) {
      throw new Error(`IamCredentialsRotator: the Lambda package ${packagePath} does not exist: build it with \`go run ./deploy/build\` (or set packagePath)`);
    }

    const handlerRole = props.credentialsHandler.role;
    const lines = [
      `dry_run: ${dryRun}`,
      'thresholds:',
      `  rotate_after: ${keycycleDuration(rotateAfter, 'thresholds.rotateAfter')}`,
      '  warn_before: 0',
      `  deactivate_after: ${keycycleDuration(cleanupWait, 'cleanupWaitDuration')}`,
      `  guard_window: ${keycycleDuration(cleanupWait, 'cleanupWaitDuration')}`,
      `  delete_after: ${keycycleDuration(deleteAfter, 'thresholds.deleteAfter')}`,
      ...(th.hardLimit ? [`  hard_limit: ${keycycleDuration(th.hardLimit, 'thresholds.hardLimit')}`] : []),
      '  password_rotate_after: "off"',
      '  console_unused_after: "off"',
      'overrides:',
      '  max_rotate_after: 0',
      'selection:',
      '  include:',
      `    - users: [${props.users.map((u) => quote(u.username)).join(', ')}]`,
      'secret:',
      `  name_template: ${quote(secretNameTemplate)}`,
      ...(props.secretsKey ? [`  kms_key_id: ${quote(props.secretsKey.keyArn)}`] : []),
      ...(handlerRole ? [`  readers: [${quote(handlerRole.roleArn)}]`] : []),
      'delivery:',
      '  - type: secretsmanager',
      '  - type: lambda',
      `    function: ${quote(props.credentialsHandler.functionArn)}`,
      ...(props.users.some((u) => u.metadata !== undefined)
        ? ['    metadata:', ...props.users.filter((u) => u.metadata !== undefined).map((u) => `      ${quote(u.username)}: ${quote(u.metadata!)}`)]
        : []),
      'notify:',
      ...(props.notifications?.senderEmail ? [`  email: {from: ${quote(props.notifications.senderEmail)}}`] : []),
      ...(props.notifications?.topic ? [`  sns: {topic_arn: ${quote(props.notifications.topic.topicArn)}}`] : []),
      ...(props.notifications?.adminEmail ? [`  owners: {fallback: ${quote(props.notifications.adminEmail)}}`] : []),
      '',
    ];
    this.configYaml = lines.join('\n');

    const inputs: PolicyInputs = {
      partition: Aws.PARTITION, region: Aws.REGION, account: org ? '*' : Aws.ACCOUNT_ID, hubAccount: Aws.ACCOUNT_ID, name, memberRoleName,
      users: props.users.map((u) => u.username), statePrefix, secretNameTemplate, secretsKeyArn: props.secretsKey?.keyArn,
      handlerArn: props.credentialsHandler.functionArn, senderEmail: props.notifications?.senderEmail,
      topicArn: props.notifications?.topic?.topicArn, discovery,
    };
    const document = (sts: Statement[]) => iam.PolicyDocument.fromJson({ Version: '2012-10-17', Statement: sts });

    const logGroup = new logs.LogGroup(this, 'LogGroup', { logGroupName: `/aws/lambda/${name}`, retention: logs.RetentionDays.ONE_MONTH });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      queueName: `${name}-dlq.fifo`, fifo: true, retentionPeriod: Duration.days(14), encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true,
    });
    this.workQueue = new sqs.Queue(this, 'WorkQueue', {
      queueName: `${name}.fifo`, fifo: true, contentBasedDeduplication: false, visibilityTimeout: Duration.seconds(5400),
      encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });
    const cleanupDLQ = new sqs.Queue(this, 'CleanupDeadLetterQueue', {
      queueName: `${name}-cleanup-dlq`, retentionPeriod: Duration.days(14), encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true,
    });
    // A standard queue: FIFO queues take no per-message delay, which is how the wait is made.
    this.cleanupQueue = new sqs.Queue(this, 'CleanupQueue', {
      queueName: `${name}-cleanup`, visibilityTimeout: Duration.seconds(5400), encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true,
      deadLetterQueue: { queue: cleanupDLQ, maxReceiveCount: 5 },
    });
    for (const q of [this.deadLetterQueue, cleanupDLQ]) {
      NagSuppressions.addResourceSuppressions(q, [{ id: 'AwsSolutions-SQS3', reason: 'This is a dead-letter queue: messages that failed five times land here for an operator.' }]);
    }

    this.hubRole = new iam.Role(this, 'HubRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'keycycle hub: lists accounts, assumes the member roles, feeds and drains its queues (keycycle policy --role hub)',
      inlinePolicies: { 'keycycle-hub': document(hubStatements(inputs)) },
    });
    NagSuppressions.addResourceSuppressions(this.hubRole, [{ id: 'AwsSolutions-IAM5', reason:
      'Exactly `keycycle policy --role hub` (checked by deploy/cdk_test.go): member roles in any account (iam::*:role/<member role>), '
      + 'the log streams of the function\'s own log group (:*), and Organizations listing, which has no resource-level permissions.' }]);

    this.memberPolicy = document(memberStatements(inputs));
    if (!org) {
      this.memberRole = new iam.Role(this, 'MemberRole', {
        roleName: memberRoleName,
        assumedBy: new iam.ArnPrincipal(this.hubRole.roleArn),
        externalIds: props.externalId ? [props.externalId] : undefined,
        description: 'keycycle member: rotates the listed users\' access keys in this account (keycycle policy)',
        inlinePolicies: { 'keycycle-member': this.memberPolicy },
      });
      NagSuppressions.addResourceSuppressions(this.memberRole, [{ id: 'AwsSolutions-IAM5', reason:
        'Exactly `keycycle policy` (checked by deploy/cdk_test.go): the listed users at any IAM path (user/*/<name>), the secrets of this '
        + 'account under keycycle/<account>/*, and the credential report and authorization details, which have no resource-level permissions.' }]);
    } else {
      new CfnOutput(this, 'MemberPolicy', {
        description: 'The member role policy to deploy in each account (trusting HubRoleArn), e.g. with member-role.yaml\'s role and this policy',
        value: Stack.of(this).toJsonString(this.memberPolicy.toJSON()),
      });
    }

    this.function = new lambda.Function(this, 'Function', {
      functionName: name,
      description: 'keycycle: rotates IAM user access keys (schedule, SQS worker, cleanup follow-ups)',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(packagePath),
      memorySize: 512,
      timeout: Duration.minutes(15),
      role: this.hubRole,
      environment: {
        KEYCYCLE_QUEUE_URL: this.workQueue.queueUrl,
        KEYCYCLE_CLEANUP_QUEUE_URL: this.cleanupQueue.queueUrl,
        KEYCYCLE_CLEANUP_WAIT_SECONDS: String(cleanupWait.toSeconds()),
        KEYCYCLE_ROLE: memberRoleName,
        KEYCYCLE_DRY_RUN: String(dryRun),
        ...(!org ? { KEYCYCLE_ACCOUNTS: Aws.ACCOUNT_ID } : {}),
        ...(org?.accounts?.length ? { KEYCYCLE_ACCOUNTS: org.accounts.join(',') } : {}),
        ...(org?.organizationalUnits?.length && !org.accounts?.length ? { KEYCYCLE_OUS: org.organizationalUnits.join(',') } : {}),
        ...(org?.excludeAccounts?.length ? { KEYCYCLE_EXCLUDE: org.excludeAccounts.join(',') } : {}),
        ...(props.externalId ? { KEYCYCLE_EXTERNAL_ID: props.externalId } : {}),
        KEYCYCLE_CONFIG_YAML: this.configYaml,
      },
    });
    this.function.node.addDependency(logGroup);
    NagSuppressions.addResourceSuppressions(this.function, [{ id: 'AwsSolutions-L1', reason:
      'keycycle is a Go binary on the OS-only runtime provided.al2023, the current one for Go; cdk-nag\'s check compares language runtimes.' }]);

    for (const [id, queue] of [['WorkSource', this.workQueue], ['CleanupSource', this.cleanupQueue]] as const) {
      new lambda.EventSourceMapping(this, id, {
        target: this.function, eventSourceArn: queue.queueArn, batchSize: 10, reportBatchItemFailures: true,
      });
    }

    new events.Rule(this, 'Schedule', {
      description: 'keycycle: plan the listed users',
      schedule: events.Schedule.rate(schedule),
      targets: [new targets.LambdaFunction(this.function, { event: events.RuleTargetInput.fromObject({ keycycle: 'schedule' }) })],
    });

    // The handler reads the new key from its secret: allowed by its role and by the secret's
    // resource policy (secret.readers), which denies everyone else.
    props.credentialsHandler.addToRolePolicy(new iam.PolicyStatement({
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      resources: props.users.map((u) => `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:keycycle/${Aws.ACCOUNT_ID}/${u.username}-??????`),
    }));
    if (props.secretsKey) {
      props.secretsKey.grantDecrypt(props.credentialsHandler);
    }
    if (org) {
      // The member roles of other accounts invoke the handler.
      const principal = org.organizationId
        ? new iam.OrganizationPrincipal(org.organizationId)
        : undefined;
      if (principal) {
        props.credentialsHandler.addPermission('KeycycleMemberRoles', { principal, action: 'lambda:InvokeFunction' });
      } else {
        org.accounts?.forEach((a, i) =>
          props.credentialsHandler.addPermission(`KeycycleMemberRole${i}`, { principal: new iam.AccountPrincipal(a), action: 'lambda:InvokeFunction' }));
      }
    }

    new CfnOutput(this, 'HubRoleArn', { description: 'The principal the member roles trust', value: this.hubRole.roleArn });
  }
}

/** validate refuses what would fail at deployment or at run time, naming the prop. */
function validate(props: IamCredentialsRotatorProps): void {
  const problems: string[] = [];
  for (const k of Object.keys(props)) {
    if (!knownProps.has(k)) problems.push(`unknown prop ${k}`);
  }
  if (!Array.isArray(props.users) || props.users.length === 0) {
    problems.push('users: list at least one user');
  } else {
    const seen = new Set<string>();
    props.users.forEach((u, i) => {
      for (const k of Object.keys(u)) {
        if (!knownUserProps.has(k)) problems.push(`users[${i}]: unknown field ${k} (want username, metadata)`);
      }
      if (typeof u.username !== 'string' || !iamUserName.test(u.username)) {
        problems.push(`users[${i}].username ${JSON.stringify(u.username)} is not an IAM user name (1 to 64 of letters, digits and +=,.@_-)`);
      } else if (seen.has(u.username)) {
        problems.push(`users[${i}].username ${u.username} is listed twice`);
      } else {
        seen.add(u.username);
      }
      if (u.metadata !== undefined && typeof u.metadata !== 'string') problems.push(`users[${i}].metadata must be a string`);
    });
  }
  if (!props.credentialsHandler) problems.push('credentialsHandler is required');
  const schedule = props.scheduleDuration ?? Duration.hours(1);
  const wait = props.cleanupWaitDuration ?? Duration.minutes(5);
  const minutes = (d: Duration | undefined, field: string) => {
    if (d === undefined) return;
    if (Token.isUnresolved(d.toSeconds({ integral: false }))) problems.push(`${field} must be a literal duration`);
    else if (d.toSeconds() < 60 || d.toSeconds() % 60 !== 0) problems.push(`${field} must be a whole number of minutes, at least 1 (got ${d.toHumanString()})`);
  };
  minutes(props.scheduleDuration, 'scheduleDuration');
  minutes(props.cleanupWaitDuration, 'cleanupWaitDuration');
  if (wait.toSeconds() >= schedule.toSeconds()) {
    problems.push(`cleanupWaitDuration (${wait.toHumanString()}) must be shorter than scheduleDuration (${schedule.toHumanString()})`);
  }
  const th = props.thresholds ?? {};
  minutes(th.rotateAfter, 'thresholds.rotateAfter');
  minutes(th.deleteAfter, 'thresholds.deleteAfter');
  minutes(th.hardLimit, 'thresholds.hardLimit');
  const rotate = th.rotateAfter?.toSeconds() ?? schedule.toSeconds() - wait.toSeconds();
  if (th.hardLimit && th.hardLimit.toSeconds() <= rotate) problems.push('thresholds.hardLimit must be longer than thresholds.rotateAfter');
  if (props.dryRun !== undefined && typeof props.dryRun !== 'boolean') problems.push('dryRun must be true or false');
  const org = props.organization;
  if (org) {
    org.accounts?.forEach((a, i) => { if (!accountId.test(a)) problems.push(`organization.accounts[${i}] ${JSON.stringify(a)} is not a 12-digit account id`); });
    org.organizationalUnits?.forEach((o, i) => { if (!ouId.test(o)) problems.push(`organization.organizationalUnits[${i}] ${JSON.stringify(o)} is not an OU id (ou-xxxx-xxxxxxxx)`); });
    if (org.accounts?.length && org.organizationalUnits?.length) problems.push('organization: accounts and organizationalUnits exclude each other');
    if (org.organizationId !== undefined && !orgId.test(org.organizationId)) problems.push(`organization.organizationId ${JSON.stringify(org.organizationId)} is not an organization id (o-...)`);
    if (!org.accounts?.length && org.organizationId === undefined) problems.push('organization.organizationId is required unless organization.accounts lists the accounts (member roles of its accounts invoke the handler)');
  }
  for (const [field, v] of [['notifications.senderEmail', props.notifications?.senderEmail], ['notifications.adminEmail', props.notifications?.adminEmail]] as const) {
    if (v !== undefined && !email.test(v)) problems.push(`${field} ${JSON.stringify(v)} is not an e-mail address`);
  }
  if (props.name !== undefined && !deploymentName.test(props.name)) problems.push(`name ${JSON.stringify(props.name)}: 1 to 54 letters, digits, - and _`);
  if (props.memberRoleName !== undefined && !/^[\w+=,.@-]{1,64}$/.test(props.memberRoleName)) problems.push(`memberRoleName ${JSON.stringify(props.memberRoleName)} is not a role name`);
  if (props.externalId !== undefined && !/^[\w+=,.@:/-]{2,1224}$/.test(props.externalId)) problems.push('externalId: 2 to 1224 of letters, digits and +=,.@:/-');
  if (problems.length) {
    throw new Error(`IamCredentialsRotator: invalid props:\n  ${problems.join('\n  ')}`);
  }
}
