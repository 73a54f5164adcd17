// Package sinkname knows which names each sink's service accepts (length and characters, as AWS
// documents them), so that a name a sink cannot hold is found at configuration load or at plan
// time, never by creating a key first (I5, I8); and the kind of sink a location belongs to (Kind),
// with what each sink type registers about its kind (About). Pure: no I/O.
package sinkname

import (
	"fmt"
	"strings"
)

// Limits AWS documents.
const (
	// UserNameMax is the longest IAM user name (IAM CreateUser: 1 to 64 characters).
	UserNameMax = 64
	// AccountIDLen is the length of an AWS account id.
	AccountIDLen = 12
	// SecretMax is the longest Secrets Manager secret name (CreateSecret Name: 1 to 512).
	SecretMax = 512
	// ParameterMax is the longest SSM parameter name counted with its ARN
	// (arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME): PutParameter's 2048 include 1037
	// reserved for internal use.
	ParameterMax = 1011
	// ParameterLevels is the deepest SSM parameter hierarchy.
	ParameterLevels = 15
	// longestRegion is the length of the longest AWS region name (ap-southeast-N, us-gov-west-1
	// and the like stay within it); used when the region is not known.
	longestRegion = 14
)

// Secret checks a Secrets Manager secret name: 1 to 512 ASCII letters, digits and /_+=.@-.
func Secret(name string) error {
	if name == "" || len(name) > SecretMax {
		return fmt.Errorf("a Secrets Manager secret name has 1 to %d characters, %q has %d", SecretMax, clip(name), len(name))
	}
	for _, c := range name {
		if !secretChar(c) {
			return fmt.Errorf("a Secrets Manager secret name has only ASCII letters, digits and /_+=.@-: %q has %q", clip(name), c)
		}
	}
	return nil
}

func secretChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/_+=.@-", c)
}

// Parameter checks an SSM parameter name as PutParameter does: a-zA-Z0-9_.- in each level, a
// leading / when it has levels, at most 15 levels, not beginning with aws or ssm, and at most
// 1011 characters with its ARN in accountID and region (region "": the longest region name).
func Parameter(name, accountID, region string) error {
	if name == "" {
		return fmt.Errorf("an SSM parameter name is empty")
	}
	body := name
	if strings.Contains(name, "/") {
		if !strings.HasPrefix(name, "/") {
			return fmt.Errorf("an SSM parameter name with levels starts with /: %q", clip(name))
		}
		body = name[1:]
	}
	levels := strings.Split(body, "/")
	for _, l := range levels {
		if l == "" {
			return fmt.Errorf("an SSM parameter name has no empty level: %q", clip(name))
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
				return fmt.Errorf("an SSM parameter name has only a-zA-Z0-9_.- between its slashes: %q has %q", clip(name), c)
			}
		}
	}
	if len(levels) > ParameterLevels {
		return fmt.Errorf("an SSM parameter name has at most %d levels, %q has %d", ParameterLevels, clip(name), len(levels))
	}
	if first := strings.ToLower(levels[0]); strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm") {
		return fmt.Errorf("SSM parameter names beginning with aws or ssm are reserved: %q", clip(name))
	}
	if n := parameterARNLen(name, accountID, region); n > ParameterMax {
		return fmt.Errorf("an SSM parameter name has at most %d characters with its ARN, %q has %d", ParameterMax, clip(name), n)
	}
	return nil
}

func parameterARNLen(name, accountID, region string) int {
	if region == "" {
		region = strings.Repeat("x", longestRegion)
	}
	if accountID == "" {
		accountID = strings.Repeat("0", AccountIDLen)
	}
	n := len("arn:aws:ssm:" + region + ":" + accountID + ":parameter")
	if !strings.HasPrefix(name, "/") {
		n++
	}
	return n + len(name)
}

// GitHubSecret checks a GitHub Actions secret name: letters, digits and _, not starting with a
// digit or with GITHUB_ (any case).
func GitHubSecret(name string) error {
	ok := name != "" && !(name[0] >= '0' && name[0] <= '9') && !strings.HasPrefix(strings.ToUpper(name), "GITHUB_")
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("a GitHub secret name has only letters, digits and _, and starts with neither a digit nor GITHUB_: %q", clip(name))
	}
	return nil
}

// worst renders a name template ({{account}}, {{user}}) with the longest values they can take.
func worst(template string) string {
	return strings.NewReplacer("{{account}}", strings.Repeat("0", AccountIDLen), "{{user}}", strings.Repeat("u", UserNameMax)).Replace(template)
}

// SecretTemplate checks that every name template renders (any account, any IAM user name up to
// 64 characters) is short enough for Secrets Manager. Characters are checked by the caller.
func SecretTemplate(template string) error {
	if n := len(worst(template)); n > SecretMax {
		return fmt.Errorf("with a %d-character user name the secret name has %d characters; Secrets Manager allows %d", UserNameMax, n, SecretMax)
	}
	return nil
}

// ParameterTemplate is SecretTemplate for SSM parameter names (in the longest region name).
func ParameterTemplate(template string) error {
	if n := parameterARNLen(worst(template), "", ""); n > ParameterMax {
		return fmt.Errorf("with a %d-character user name the parameter name has %d characters with its ARN; SSM allows %d", UserNameMax, n, ParameterMax)
	}
	return nil
}

// clip shortens a name for a message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
