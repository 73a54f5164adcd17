// The IAM statements of keycycle's roles for the configuration the construct writes. They mirror
// what `keycycle policy` prints (internal/iampolicy) for that configuration, statement for
// statement: deploy/cdk_test.go synthesizes the construct's stacks, hands the configuration in
// the function's environment to internal/iampolicy and requires the roles' policies to equal it.
// A new code path in keycycle is a new statement there first; this file follows.

/** A statement in the shape keycycle prints: Sid, sorted actions, resources, conditions. */
export interface Statement {
  readonly Sid: string;
  readonly Effect: 'Allow';
  readonly Action: string[];
  readonly Resource: string[];
  readonly Condition?: Record<string, Record<string, string[]>>;
}

/** What the statements depend on; strings may be CDK tokens (account, region, partition). */
export interface PolicyInputs {
  readonly partition: string;
  readonly region: string;
  /** The account in the ARNs of the member's own resources; '*' for member roles anywhere. */
  readonly account: string;
  /** The hub's own account (queues, log group). */
  readonly hubAccount: string;
  readonly name: string;
  readonly memberRoleName: string;
  readonly users: string[];
  readonly statePrefix: string;
  readonly secretNameTemplate: string;
  readonly secretsKeyArn?: string;
  readonly handlerArn: string;
  readonly senderEmail?: string;
  readonly topicArn?: string;
  readonly discovery: 'organization' | 'ous' | 'accounts';
}

const sorted = (xs: string[]): string[] => [...new Set(xs)].sort();

function fill(tmpl: string, account: string): string {
  let out = tmpl.replace(/\{\{[a-z]+\}\}/g, (ph) => (ph === '{{account}}' && account !== '*' ? account : '*'));
  while (out.includes('**')) out = out.replace('**', '*');
  return out;
}

function secretPattern(name: string): string {
  return name.endsWith('*') ? name : `${name}-??????`;
}

/** The member role's statements: inside one account. */
export function memberStatements(p: PolicyInputs): Statement[] {
  const arn = (service: string, resource: string) => `arn:${p.partition}:${service}:${p.region}:${p.account}:${resource}`;
  const users = sorted(p.users.flatMap((u) => [`arn:${p.partition}:iam::${p.account}:user/${u}`, `arn:${p.partition}:iam::${p.account}:user/*/${u}`]));
  const out: Statement[] = [
    { Sid: 'ScanAccount', Effect: 'Allow', Resource: ['*'],
      Action: ['iam:GenerateCredentialReport', 'iam:GetAccountAuthorizationDetails', 'iam:GetCredentialReport', 'iam:ListAccountAliases'] },
    { Sid: 'ReadUsers', Effect: 'Allow', Resource: users,
      Action: ['iam:GetAccessKeyLastUsed', 'iam:GetLoginProfile', 'iam:GetUser', 'iam:ListAccessKeys', 'iam:ListGroupsForUser'] },
    { Sid: 'RotateKeys', Effect: 'Allow', Resource: users, Action: ['iam:CreateAccessKey', 'iam:DeleteAccessKey', 'iam:UpdateAccessKey'] },
    { Sid: 'RecordState', Effect: 'Allow', Resource: users, Action: ['iam:TagUser', 'iam:UntagUser'],
      Condition: { 'ForAllValues:StringLike': { 'aws:TagKeys': [`${p.statePrefix}*`] } } },
    { Sid: 'SecretsManagerSink', Effect: 'Allow',
      Resource: [arn('secretsmanager', `secret:${secretPattern(fill(p.secretNameTemplate, p.account))}`)],
      Action: ['secretsmanager:CreateSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutResourcePolicy',
        'secretsmanager:PutSecretValue', 'secretsmanager:TagResource', 'secretsmanager:UpdateSecretVersionStage'] },
  ];
  if (p.secretsKeyArn) {
    out.push({ Sid: 'SecretsManagerKey', Effect: 'Allow', Resource: [p.secretsKeyArn], Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Condition: { StringLike: { 'kms:ViaService': [`secretsmanager.${p.region}.amazonaws.com`] } } });
  }
  out.push({ Sid: 'InvokeHandler', Effect: 'Allow', Resource: [p.handlerArn], Action: ['lambda:InvokeFunction'] });
  if (p.senderEmail) {
    const domain = p.senderEmail.split('@')[1];
    const id = (x: string) => `arn:${p.partition}:ses:${p.region}:${p.account}:identity/${x}`;
    out.push({ Sid: 'SendMail', Effect: 'Allow', Resource: sorted([id(p.senderEmail), id(domain)]), Action: ['ses:SendEmail'],
      Condition: { StringEquals: { 'ses:FromAddress': [p.senderEmail] } } });
  }
  if (p.topicArn) {
    out.push({ Sid: 'PublishEvents', Effect: 'Allow', Resource: [p.topicArn], Action: ['sns:Publish'] });
  }
  return out;
}

/** The hub role's statements: the function's own role. */
export function hubStatements(p: PolicyInputs): Statement[] {
  const arn = (service: string, resource: string) => `arn:${p.partition}:${service}:${p.region}:${p.hubAccount}:${resource}`;
  const out: Statement[] = [];
  if (p.discovery === 'organization') {
    out.push({ Sid: 'ListAccounts', Effect: 'Allow', Resource: ['*'], Action: ['organizations:ListAccounts'] });
  }
  if (p.discovery === 'ous') {
    out.push({ Sid: 'ListOUAccounts', Effect: 'Allow', Resource: ['*'],
      Action: ['organizations:ListAccountsForParent', 'organizations:ListOrganizationalUnitsForParent'] });
  }
  const work = arn('sqs', `${p.name}.fifo`);
  const cleanup = arn('sqs', `${p.name}-cleanup`);
  out.push(
    { Sid: 'AssumeMemberRole', Effect: 'Allow', Resource: [`arn:${p.partition}:iam::*:role/${p.memberRoleName}`], Action: ['sts:AssumeRole'] },
    { Sid: 'EnqueueWork', Effect: 'Allow', Resource: [work], Action: ['sqs:SendMessageBatch'] },
    { Sid: 'ScheduleCleanup', Effect: 'Allow', Resource: [cleanup], Action: ['sqs:SendMessage'] },
    { Sid: 'ConsumeWork', Effect: 'Allow', Resource: [work, cleanup], Action: ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'] },
    { Sid: 'WriteLogs', Effect: 'Allow', Resource: [arn('logs', `log-group:/aws/lambda/${p.name}:*`)], Action: ['logs:CreateLogStream', 'logs:PutLogEvents'] },
  );
  return out;
}
