package sinkname

// Kind is the kind of sink a delivery location belongs to: what a name or a location means, and
// how its owner fetches what was delivered there (notify builds the AWS CLI command from it).
// The values are the sink types of the configuration (config.Sink.Kind).
type Kind string

// Sink kinds.
const (
	SecretsManager  Kind = "secretsmanager"   // a Secrets Manager secret
	SSM             Kind = "ssm"              // an SSM Parameter Store SecureString parameter
	Webhook         Kind = "webhook"          // an HTTPS endpoint
	Lambda          Kind = "lambda"           // a Lambda function
	GitHub          Kind = "github"           // GitHub Actions secrets
	Email           Kind = "email"            // an encrypted e-mail to the owner
	CredentialsFile Kind = "credentials-file" // a profile in an AWS shared credentials file
)

// Service names the kind for a person: "AWS Secrets Manager", "SSM Parameter Store"; "" for an
// unknown kind.
func (k Kind) Service() string {
	switch k {
	case SecretsManager:
		return "AWS Secrets Manager"
	case SSM:
		return "AWS Systems Manager Parameter Store"
	case Webhook:
		return "a webhook"
	case Lambda:
		return "an AWS Lambda function"
	case GitHub:
		return "GitHub Actions secrets"
	case Email:
		return "an encrypted e-mail"
	case CredentialsFile:
		return "an AWS credentials file"
	}
	return ""
}
