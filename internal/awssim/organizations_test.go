package awssim_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

const orgScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - {id: "111111111111", alias: acme-mgmt, email: root@acme.example}
  - {id: "222222222222", name: Production, email: prod@acme.example}
  - {id: "333333333333", name: Web}
  - {id: "444444444444", alias: acme-old}
  - {id: "555555555555"}
organization:
  management_account: "111111111111"
  ous:
    - {name: Web, parent: Prod, accounts: ["333333333333"], tags: {tier: web}}
    - {name: Prod, accounts: ["222222222222"], tags: {env: prod}}
    - {name: Suspended, parent: root, accounts: ["444444444444"]}
  suspended: ["444444444444"]
  account_tags:
    "222222222222": {owner: platform@acme.example, cost-center: "42"}
`

func orgClient(t *testing.T, src string) (*awssimtest.Sandbox, *organizations.Client) {
	t.Helper()
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, src))
	return sb, organizations.NewFromConfig(cfg)
}

func allAccounts(t *testing.T, c *organizations.Client, pageSize int32) (ids []string, pages int) {
	t.Helper()
	in := &organizations.ListAccountsInput{}
	if pageSize > 0 {
		in.MaxResults = aws.Int32(pageSize)
	}
	p := organizations.NewListAccountsPaginator(c, in)
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListAccounts page %d: %v", pages+1, err)
		}
		pages++
		for _, a := range out.Accounts {
			ids = append(ids, aws.ToString(a.Id))
		}
	}
	return ids, pages
}

func TestOrganizationFromScenario(t *testing.T) {
	ctx := context.Background()
	_, c := orgClient(t, orgScenario)

	org, err := c.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		t.Fatal(err)
	}
	o := org.Organization
	oid := aws.ToString(o.Id)
	if !regexp.MustCompile(`^o-[a-z0-9]{10}$`).MatchString(oid) || o.FeatureSet != orgtypes.OrganizationFeatureSetAll ||
		aws.ToString(o.MasterAccountId) != "111111111111" || aws.ToString(o.MasterAccountEmail) != "root@acme.example" ||
		aws.ToString(o.Arn) != "arn:aws:organizations::111111111111:organization/"+oid ||
		aws.ToString(o.MasterAccountArn) != "arn:aws:organizations::111111111111:account/"+oid+"/111111111111" {
		t.Fatalf("organization = %+v", o)
	}

	roots, err := c.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("ListRoots = %+v, %v", roots, err)
	}
	root := roots.Roots[0]
	rid := aws.ToString(root.Id)
	if !regexp.MustCompile(`^r-[0-9a-z]{4}$`).MatchString(rid) || aws.ToString(root.Name) != "Root" ||
		aws.ToString(root.Arn) != "arn:aws:organizations::111111111111:root/"+oid+"/"+rid {
		t.Fatalf("root = %+v", root)
	}

	ids, _ := allAccounts(t, c, 0)
	if got := strings.Join(ids, ","); got != "111111111111,222222222222,333333333333,444444444444,555555555555" {
		t.Fatalf("ListAccounts = %s", got)
	}

	// The root holds the accounts no OU lists, and the top-level OUs in scenario order.
	inRoot, err := c.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(rid)})
	if err != nil || len(inRoot.Accounts) != 2 || aws.ToString(inRoot.Accounts[0].Id) != "111111111111" || aws.ToString(inRoot.Accounts[1].Id) != "555555555555" {
		t.Fatalf("accounts in root = %+v, %v", inRoot, err)
	}
	ous, err := c.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(rid)})
	if err != nil || len(ous.OrganizationalUnits) != 2 {
		t.Fatalf("OUs in root = %+v, %v", ous, err)
	}
	prod, susp := ous.OrganizationalUnits[0], ous.OrganizationalUnits[1]
	if aws.ToString(prod.Name) != "Prod" || aws.ToString(susp.Name) != "Suspended" {
		t.Fatalf("OU names = %s, %s", aws.ToString(prod.Name), aws.ToString(susp.Name))
	}
	pid := aws.ToString(prod.Id)
	if !regexp.MustCompile(`^ou-`+rid[2:]+`-[a-z0-9]{8}$`).MatchString(pid) || aws.ToString(prod.Arn) != "arn:aws:organizations::111111111111:ou/"+oid+"/"+pid ||
		aws.ToString(prod.Path) != oid+"/"+rid+"/"+pid+"/" {
		t.Fatalf("Prod OU = %+v", prod)
	}
	children, err := c.ListChildren(ctx, &organizations.ListChildrenInput{ParentId: aws.String(pid), ChildType: orgtypes.ChildTypeOrganizationalUnit})
	if err != nil || len(children.Children) != 1 || children.Children[0].Type != orgtypes.ChildTypeOrganizationalUnit {
		t.Fatalf("OU children of Prod = %+v, %v", children, err)
	}
	wid := aws.ToString(children.Children[0].Id)
	accts, err := c.ListChildren(ctx, &organizations.ListChildrenInput{ParentId: aws.String(wid), ChildType: orgtypes.ChildTypeAccount})
	if err != nil || len(accts.Children) != 1 || aws.ToString(accts.Children[0].Id) != "333333333333" {
		t.Fatalf("account children of Web = %+v, %v", accts, err)
	}
	parents, err := c.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String("333333333333")})
	if err != nil || len(parents.Parents) != 1 || aws.ToString(parents.Parents[0].Id) != wid || parents.Parents[0].Type != orgtypes.ParentTypeOrganizationalUnit {
		t.Fatalf("parents of 333333333333 = %+v, %v", parents, err)
	}
	parents, err = c.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(pid)})
	if err != nil || len(parents.Parents) != 1 || aws.ToString(parents.Parents[0].Id) != rid || parents.Parents[0].Type != orgtypes.ParentTypeRoot {
		t.Fatalf("parents of Prod = %+v, %v", parents, err)
	}
	web, err := c.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(wid)})
	if err != nil || aws.ToString(web.OrganizationalUnit.Path) != oid+"/"+rid+"/"+pid+"/"+wid+"/" {
		t.Fatalf("Web OU = %+v, %v", web, err)
	}

	// Names, emails, status, tags.
	for _, tc := range []struct{ id, name, email, status, method string }{
		{"111111111111", "acme-mgmt", "root@acme.example", "ACTIVE", "INVITED"},
		{"222222222222", "Production", "prod@acme.example", "ACTIVE", "CREATED"},
		{"444444444444", "acme-old", "aws+444444444444@example.com", "SUSPENDED", "CREATED"},
		{"555555555555", "Account 555555555555", "aws+555555555555@example.com", "ACTIVE", "CREATED"},
	} {
		out, err := c.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(tc.id)})
		if err != nil {
			t.Fatal(err)
		}
		a := out.Account
		if aws.ToString(a.Name) != tc.name || aws.ToString(a.Email) != tc.email || string(a.Status) != tc.status ||
			string(a.State) != tc.status || string(a.JoinedMethod) != tc.method || a.JoinedTimestamp == nil ||
			aws.ToString(a.Arn) != "arn:aws:organizations::111111111111:account/"+oid+"/"+tc.id {
			t.Errorf("DescribeAccount(%s) = %+v", tc.id, a)
		}
	}
	tags, err := c.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: aws.String("222222222222")})
	if err != nil || len(tags.Tags) != 2 || aws.ToString(tags.Tags[0].Key) != "cost-center" || aws.ToString(tags.Tags[1].Value) != "platform@acme.example" {
		t.Fatalf("account tags = %+v, %v", tags, err)
	}
	tags, err = c.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: aws.String(pid)})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" {
		t.Fatalf("OU tags = %+v, %v", tags, err)
	}
}

func TestOrganizationListAccountsPagination(t *testing.T) {
	ctx := context.Background()
	sc := &awssim.Scenario{Organization: &awssim.ScenarioOrganization{ManagementAccount: "100000000000"}}
	for i := range 47 {
		sc.Accounts = append(sc.Accounts, awssim.ScenarioAccount{ID: fmt.Sprintf("1%011d", i*1000000)})
	}
	_, cfg := awssimtest.Start(t, awssimtest.WithScenario(sc))
	c := organizations.NewFromConfig(cfg)

	for _, tc := range []struct {
		size      int32
		wantPages int
	}{{0, 3}, {20, 3}, {7, 7}, {1, 47}} {
		ids, pages := allAccounts(t, c, tc.size)
		if len(ids) != 47 || pages != tc.wantPages {
			t.Errorf("page size %d: %d accounts in %d pages, want 47 in %d", tc.size, len(ids), pages, tc.wantPages)
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("page size %d: %s listed twice", tc.size, id)
			}
			seen[id] = true
		}
	}

	for _, n := range []int32{0, 21} {
		_, err := c.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(n)})
		var iie *orgtypes.InvalidInputException
		if !errors.As(err, &iie) || iie.Reason == "" {
			t.Errorf("MaxResults %d: want InvalidInputException with a Reason, got %v", n, err)
		}
	}
	_, err := c.ListAccounts(ctx, &organizations.ListAccountsInput{NextToken: aws.String("bogus")})
	var iie *orgtypes.InvalidInputException
	if !errors.As(err, &iie) || iie.Reason != orgtypes.InvalidInputExceptionReasonInvalidPaginationToken {
		t.Fatalf("bad token: want InvalidInputException INVALID_NEXT_TOKEN, got %v", err)
	}
	// A token of another list is not accepted either.
	first, err := c.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(5)})
	if err != nil || first.NextToken == nil {
		t.Fatalf("first page = %+v, %v", first, err)
	}
	roots, _ := c.ListRoots(ctx, &organizations.ListRootsInput{})
	_, err = c.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: roots.Roots[0].Id, NextToken: first.NextToken})
	if !errors.As(err, &iie) {
		t.Fatalf("token of another list: want InvalidInputException, got %v", err)
	}
}

func TestOrganizationMemberAndOutsiderAccess(t *testing.T) {
	ctx := context.Background()
	sb, mgmt := orgClient(t, orgScenario)
	member := organizations.NewFromConfig(sb.AccountConfig(t, "222222222222"))

	// A member may describe its organization, nothing more.
	org, err := member.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil || aws.ToString(org.Organization.MasterAccountId) != "111111111111" {
		t.Fatalf("member DescribeOrganization = %+v, %v", org, err)
	}
	var denied *orgtypes.AccessDeniedException
	if _, err := member.ListAccounts(ctx, &organizations.ListAccountsInput{}); !errors.As(err, &denied) {
		t.Fatalf("member ListAccounts: want AccessDeniedException, got %v", err)
	}
	if _, err := member.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String("222222222222")}); !errors.As(err, &denied) {
		t.Fatalf("member DescribeAccount: want AccessDeniedException, got %v", err)
	}
	var already *orgtypes.AlreadyInOrganizationException
	if _, err := member.CreateOrganization(ctx, &organizations.CreateOrganizationInput{}); !errors.As(err, &already) {
		t.Fatalf("member CreateOrganization: want AlreadyInOrganizationException, got %v", err)
	}
	if _, err := mgmt.CreateOrganization(ctx, &organizations.CreateOrganizationInput{}); !errors.As(err, &already) {
		t.Fatalf("management CreateOrganization: want AlreadyInOrganizationException, got %v", err)
	}

	// Without an organization section nobody is in an organization until one creates it.
	sb2, cfg := awssimtest.Start(t)
	lone := organizations.NewFromConfig(cfg)
	other := organizations.NewFromConfig(sb2.AccountConfig(t, "222222222222"))
	var notInUse *orgtypes.AWSOrganizationsNotInUseException
	if _, err := lone.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}); !errors.As(err, &notInUse) {
		t.Fatalf("no organization: want AWSOrganizationsNotInUseException, got %v", err)
	}
	if _, err := lone.ListAccounts(ctx, &organizations.ListAccountsInput{}); !errors.As(err, &notInUse) {
		t.Fatalf("no organization ListAccounts: want AWSOrganizationsNotInUseException, got %v", err)
	}
	created, err := lone.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil || created.Organization.FeatureSet != orgtypes.OrganizationFeatureSetAll || aws.ToString(created.Organization.MasterAccountId) != "111111111111" {
		t.Fatalf("CreateOrganization = %+v, %v", created, err)
	}
	ids, _ := allAccounts(t, lone, 0)
	if len(ids) != 1 || ids[0] != "111111111111" {
		t.Fatalf("new organization lists %v, want only its management account", ids)
	}
	if _, err := other.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}); !errors.As(err, &notInUse) {
		t.Fatalf("outsider: want AWSOrganizationsNotInUseException, got %v", err)
	}
	// Reset forgets the organization.
	if err := sb2.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := lone.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}); !errors.As(err, &notInUse) {
		t.Fatalf("after reset: want AWSOrganizationsNotInUseException, got %v", err)
	}
}

func TestOrganizationCreateOUMoveAccountAndTags(t *testing.T) {
	ctx := context.Background()
	_, c := orgClient(t, orgScenario)
	roots, err := c.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	rid := roots.Roots[0].Id

	ou, err := c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: rid, Name: aws.String("Sandbox"),
		Tags: []orgtypes.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}})
	if err != nil {
		t.Fatal(err)
	}
	sid := ou.OrganizationalUnit.Id
	var dup *orgtypes.DuplicateOrganizationalUnitException
	if _, err := c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: rid, Name: aws.String("Sandbox")}); !errors.As(err, &dup) {
		t.Fatalf("same name under the same parent: want DuplicateOrganizationalUnitException, got %v", err)
	}
	var pnf *orgtypes.ParentNotFoundException
	if _, err := c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String("ou-zzzz-zzzzzzzz"), Name: aws.String("x")}); !errors.As(err, &pnf) {
		t.Fatalf("unknown parent: want ParentNotFoundException, got %v", err)
	}
	// Five levels below the root, and no deeper.
	parent := sid
	for i := 2; i <= 5; i++ {
		out, err := c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: parent, Name: aws.String(fmt.Sprintf("L%d", i))})
		if err != nil {
			t.Fatalf("level %d: %v", i, err)
		}
		parent = out.OrganizationalUnit.Id
	}
	_, err = c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: parent, Name: aws.String("L6")})
	var cve *orgtypes.ConstraintViolationException
	if !errors.As(err, &cve) || cve.Reason != orgtypes.ConstraintViolationExceptionReasonOuDepthLimitExceeded {
		t.Fatalf("sixth level: want ConstraintViolationException OU_DEPTH_LIMIT_EXCEEDED, got %v", err)
	}

	// MoveAccount from the root to the new OU, and its errors.
	if _, err := c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String("555555555555"), SourceParentId: rid, DestinationParentId: sid}); err != nil {
		t.Fatal(err)
	}
	parents, err := c.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String("555555555555")})
	if err != nil || aws.ToString(parents.Parents[0].Id) != aws.ToString(sid) {
		t.Fatalf("after move: parents = %+v, %v", parents, err)
	}
	inRoot, _ := c.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: rid})
	for _, a := range inRoot.Accounts {
		if aws.ToString(a.Id) == "555555555555" {
			t.Fatal("moved account is still listed in the root")
		}
	}
	var dupAcct *orgtypes.DuplicateAccountException
	if _, err := c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String("555555555555"), SourceParentId: sid, DestinationParentId: sid}); !errors.As(err, &dupAcct) {
		t.Fatalf("move to where it is: want DuplicateAccountException, got %v", err)
	}
	var snf *orgtypes.SourceParentNotFoundException
	if _, err := c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String("555555555555"), SourceParentId: rid, DestinationParentId: sid}); !errors.As(err, &snf) {
		t.Fatalf("wrong source: want SourceParentNotFoundException, got %v", err)
	}
	var dnf *orgtypes.DestinationParentNotFoundException
	if _, err := c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String("555555555555"), SourceParentId: sid, DestinationParentId: aws.String("ou-zzzz-zzzzzzzz")}); !errors.As(err, &dnf) {
		t.Fatalf("unknown destination: want DestinationParentNotFoundException, got %v", err)
	}
	var anf *orgtypes.AccountNotFoundException
	if _, err := c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String("999999999999"), SourceParentId: rid, DestinationParentId: sid}); !errors.As(err, &anf) {
		t.Fatalf("unknown account: want AccountNotFoundException, got %v", err)
	}
	if _, err := c.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String("999999999999")}); !errors.As(err, &anf) {
		t.Fatalf("DescribeAccount unknown: want AccountNotFoundException, got %v", err)
	}
	var cnf *orgtypes.ChildNotFoundException
	if _, err := c.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String("999999999999")}); !errors.As(err, &cnf) {
		t.Fatalf("ListParents unknown: want ChildNotFoundException, got %v", err)
	}

	// Tags on an account: set, overwrite, remove.
	acct := aws.String("555555555555")
	if _, err := c.TagResource(ctx, &organizations.TagResourceInput{ResourceId: acct, Tags: []orgtypes.Tag{
		{Key: aws.String("owner"), Value: aws.String("a@example.com")}, {Key: aws.String("keycycle:skip"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagResource(ctx, &organizations.TagResourceInput{ResourceId: acct, Tags: []orgtypes.Tag{{Key: aws.String("owner"), Value: aws.String("b@example.com")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &organizations.UntagResourceInput{ResourceId: acct, TagKeys: []string{"keycycle:skip"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: acct})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "b@example.com" {
		t.Fatalf("tags = %+v, %v", tags, err)
	}
	var tnf *orgtypes.TargetNotFoundException
	if _, err := c.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: aws.String("999999999999")}); !errors.As(err, &tnf) {
		t.Fatalf("tags of an unknown account: want TargetNotFoundException, got %v", err)
	}
	var iie *orgtypes.InvalidInputException
	if _, err := c.TagResource(ctx, &organizations.TagResourceInput{ResourceId: acct, Tags: []orgtypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}}); !errors.As(err, &iie) {
		t.Fatalf("aws: tag: want InvalidInputException, got %v", err)
	}
	many := make([]orgtypes.Tag, 50)
	for i := range many {
		many[i] = orgtypes.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")}
	}
	if _, err := c.TagResource(ctx, &organizations.TagResourceInput{ResourceId: acct, Tags: many}); !errors.As(err, &cve) || cve.Reason != orgtypes.ConstraintViolationExceptionReasonMaxTagLimitExceeded {
		t.Fatalf("51 tags: want ConstraintViolationException MAX_TAG_LIMIT_EXCEEDED, got %v", err)
	}
}

func TestOrganizationScenarioValidation(t *testing.T) {
	src := `accounts:
  - {id: "111111111111", email: nope}
  - {id: "222222222222"}
organization:
  management_account: "999999999999"
  ous:
    - {name: A, parent: B}
    - {name: B, parent: A, accounts: ["222222222222", "333333333333"]}
    - {name: C, parent: Z, accounts: ["222222222222"]}
  suspended: ["444444444444"]
  account_tags:
    "111111111111": {"aws:x": y}
`
	_, err := awssim.ParseScenario("org.yaml", []byte(src))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`org.yaml:2: accounts[0].email: "nope" is not an email`,
		`org.yaml:5: organization.management_account: account "999999999999" is not in this scenario`,
		`org.yaml:7: organization.ous[0].parent: OU parents form a cycle`,
		`org.yaml:8: organization.ous[1].accounts[1]: account "333333333333" is not in this scenario`,
		`org.yaml:9: organization.ous[2].parent: parent "Z" is neither root nor an OU`,
		`org.yaml:9: organization.ous[2].accounts[0]: account 222222222222 is in two OUs`,
		`org.yaml:10: organization.suspended[0]: account "444444444444" is not in this scenario`,
		`org.yaml:12: organization.account_tags.111111111111.aws:x: tag "aws:x"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
