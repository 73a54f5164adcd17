package scan

import (
	"context"
	"fmt"
	"path"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// OrgAPI is the part of the Organizations client account discovery calls;
// *organizations.Client satisfies it.
type OrgAPI interface {
	organizations.ListAccountsAPIClient
	organizations.ListAccountsForParentAPIClient
	organizations.ListOrganizationalUnitsForParentAPIClient
	organizations.ListTagsForResourceAPIClient
}

var _ OrgAPI = (*organizations.Client)(nil)

// AccountFilter selects member accounts. Empty fields select everything.
type AccountFilter struct {
	// OUs are organizational unit (or root) ids whose accounts are selected, recursively.
	OUs []string
	// Include, when non-empty, keeps only these account ids (globs allowed).
	Include []string
	// Exclude drops these account ids (globs allowed).
	Exclude []string
	// Tags every selected account must carry: key -> value glob ("*": any value).
	Tags map[string]string
}

// OrgAccount is one selected member account.
type OrgAccount struct {
	ID, Name, Email string
	Tags            map[string]string
}

// SkippedAccount is an account the filter matched but keycycle leaves alone, with the reason.
type SkippedAccount struct {
	ID, Name, Reason string
}

// OrgAccounts lists the organization's accounts the filter selects, every page of every call.
// Suspended (or closing) accounts are skipped with a reason. Any failed read fails the whole
// listing: a partial list must not look like a smaller organization.
func OrgAccounts(ctx context.Context, api OrgAPI, f AccountFilter) ([]OrgAccount, []SkippedAccount, error) {
	var all []orgtypes.Account
	if len(f.OUs) == 0 {
		p := organizations.NewListAccountsPaginator(api, &organizations.ListAccountsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, nil, fmt.Errorf("list accounts: %w", err)
			}
			all = append(all, page.Accounts...)
		}
	} else {
		seen := map[string]bool{}
		queue := append([]string(nil), f.OUs...)
		for len(queue) > 0 {
			parent := queue[0]
			queue = queue[1:]
			if seen[parent] {
				continue
			}
			seen[parent] = true
			ap := organizations.NewListAccountsForParentPaginator(api, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)})
			for ap.HasMorePages() {
				page, err := ap.NextPage(ctx)
				if err != nil {
					return nil, nil, fmt.Errorf("list accounts of %s: %w", parent, err)
				}
				all = append(all, page.Accounts...)
			}
			op := organizations.NewListOrganizationalUnitsForParentPaginator(api, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)})
			for op.HasMorePages() {
				page, err := op.NextPage(ctx)
				if err != nil {
					return nil, nil, fmt.Errorf("list organizational units of %s: %w", parent, err)
				}
				for _, ou := range page.OrganizationalUnits {
					queue = append(queue, aws.ToString(ou.Id))
				}
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return aws.ToString(all[i].Id) < aws.ToString(all[j].Id) })
	var out []OrgAccount
	var skipped []SkippedAccount
	for i, a := range all {
		id := aws.ToString(a.Id)
		if i > 0 && id == aws.ToString(all[i-1].Id) {
			continue
		}
		name := aws.ToString(a.Name)
		if len(f.Include) > 0 && !anyGlob(f.Include, id) {
			continue
		}
		if anyGlob(f.Exclude, id) {
			skipped = append(skipped, SkippedAccount{ID: id, Name: name, Reason: "excluded by the account filter"})
			continue
		}
		if st := accountState(a); st != "ACTIVE" {
			skipped = append(skipped, SkippedAccount{ID: id, Name: name, Reason: "account is " + st})
			continue
		}
		acct := OrgAccount{ID: id, Name: name, Email: aws.ToString(a.Email)}
		if len(f.Tags) > 0 {
			tags, err := accountTags(ctx, api, id)
			if err != nil {
				return nil, nil, err
			}
			acct.Tags = tags
			if why := tagMismatch(f.Tags, tags); why != "" {
				skipped = append(skipped, SkippedAccount{ID: id, Name: name, Reason: why})
				continue
			}
		}
		out = append(out, acct)
	}
	return out, skipped, nil
}

// accountState is the account's State (newer API) or Status.
func accountState(a orgtypes.Account) string {
	if a.State != "" {
		return string(a.State)
	}
	if a.Status != "" {
		return string(a.Status)
	}
	return "ACTIVE"
}

func accountTags(ctx context.Context, api OrgAPI, id string) (map[string]string, error) {
	tags := map[string]string{}
	p := organizations.NewListTagsForResourcePaginator(api, &organizations.ListTagsForResourceInput{ResourceId: aws.String(id)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list tags of account %s: %w", id, err)
		}
		for _, t := range page.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return tags, nil
}

func tagMismatch(want, have map[string]string) string {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := have[k]
		if !ok {
			return "lacks account tag " + k
		}
		if ok, _ := path.Match(want[k], v); !ok && want[k] != "*" {
			return fmt.Sprintf("account tag %s=%q does not match %q", k, v, want[k])
		}
	}
	return ""
}

func anyGlob(patterns []string, v string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, v); ok {
			return true
		}
	}
	return false
}
