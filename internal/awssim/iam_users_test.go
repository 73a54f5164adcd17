package awssim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// iamtTwoAccounts is a scenario with two accounts and no users.
const iamtTwoAccounts = `
accounts:
  - id: "111111111111"
  - id: "222222222222"
`

// iamtWantErr fails unless err is an AWS error with the given code and HTTP status.
func iamtWantErr(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
	var re *smithyhttp.ResponseError
	if status != 0 && (!errors.As(err, &re) || re.HTTPStatusCode() != status) {
		t.Fatalf("want HTTP %d for %s, got %v", status, code, err)
	}
}

func iamtCreateUsers(t *testing.T, c *iam.Client, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := c.CreateUser(context.Background(), &iam.CreateUserInput{UserName: aws.String(n)}); err != nil {
			t.Fatalf("create user %s: %v", n, err)
		}
	}
}

func TestListUsersPaginatesEveryUserOnce(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, iamtTwoAccounts))
	c := iam.NewFromConfig(cfg)
	var names []string
	for i := range 250 {
		names = append(names, fmt.Sprintf("user-%03d", 249-i)) // created out of order
	}
	iamtCreateUsers(t, c, names...)

	for _, max := range []int32{100, 1, 1000} {
		seen := map[string]int{}
		var order []string
		var marker *string
		pages := 0
		for {
			out, err := c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(max), Marker: marker})
			if err != nil {
				t.Fatalf("max %d page %d: %v", max, pages, err)
			}
			pages++
			if len(out.Users) > int(max) {
				t.Fatalf("max %d: page of %d users", max, len(out.Users))
			}
			for _, u := range out.Users {
				seen[aws.ToString(u.UserName)]++
				order = append(order, aws.ToString(u.UserName))
			}
			if !out.IsTruncated {
				if out.Marker != nil {
					t.Fatalf("max %d: last page has a marker", max)
				}
				break
			}
			if aws.ToString(out.Marker) == "" {
				t.Fatalf("max %d: truncated page without marker", max)
			}
			marker = out.Marker
		}
		if len(seen) != 250 || len(order) != 250 {
			t.Fatalf("max %d: saw %d distinct of %d listed, want 250", max, len(seen), len(order))
		}
		for i := 1; i < len(order); i++ {
			if order[i-1] >= order[i] {
				t.Fatalf("max %d: not ordered by name: %s before %s", max, order[i-1], order[i])
			}
		}
		if want := (250 + int(max) - 1) / int(max); pages != want {
			t.Fatalf("max %d: %d pages, want %d", max, pages, want)
		}
	}

	// The SDK paginator with the default page size (100).
	p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{})
	n, pages := 0, 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n += len(out.Users)
	}
	if n != 250 || pages != 3 {
		t.Fatalf("paginator: %d users in %d pages, want 250 in 3", n, pages)
	}
}

func TestListUsersPagesSurviveDeletionAndFilterByPath(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, iamtTwoAccounts))
	c := iam.NewFromConfig(cfg)
	iamtCreateUsers(t, c, "a", "b", "c", "d")
	for _, n := range []string{"svc1", "svc2"} {
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(n), Path: aws.String("/service/ci/")}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(2)})
	if err != nil || len(first.Users) != 2 || !first.IsTruncated {
		t.Fatalf("first page = %+v, %v", first, err)
	}
	// The next page starts at "c"; deleting it between pages must not skip "d".
	if _, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("c")}); err != nil {
		t.Fatal(err)
	}
	second, err := c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(2), Marker: first.Marker})
	if err != nil || len(second.Users) != 2 || aws.ToString(second.Users[0].UserName) != "d" {
		t.Fatalf("second page = %+v, %v", second, err)
	}

	svc, err := c.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/service/")})
	if err != nil || len(svc.Users) != 2 || svc.IsTruncated {
		t.Fatalf("path prefix /service/ = %+v, %v", svc, err)
	}
	if got := aws.ToString(svc.Users[0].Arn); got != "arn:aws:iam::111111111111:user/service/ci/svc1" {
		t.Fatalf("arn = %s", got)
	}
	_, err = c.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("service")})
	iamtWantErr(t, err, "ValidationError", http.StatusBadRequest)
}

func TestListUsersRejectsBadMaxItemsAndMarkers(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	for _, max := range []int32{0, -1, 1001} {
		_, err := c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(max)})
		iamtWantErr(t, err, "ValidationError", http.StatusBadRequest)
	}
	_, err := c.ListUsers(ctx, &iam.ListUsersInput{Marker: aws.String("not-a-marker")})
	iamtWantErr(t, err, "ValidationError", http.StatusBadRequest)

	// A marker of another list is not a ListUsers marker.
	if _, err := c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("x")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("alice"), MaxItems: aws.Int32(1)})
	if err != nil || !tags.IsTruncated {
		t.Fatalf("ListUserTags = %+v, %v", tags, err)
	}
	_, err = c.ListUsers(ctx, &iam.ListUsersInput{Marker: tags.Marker})
	iamtWantErr(t, err, "ValidationError", http.StatusBadRequest)
	_, err = c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("bob"), Marker: tags.Marker})
	iamtWantErr(t, err, "ValidationError", http.StatusBadRequest)
}

func TestListUsersOmitsTagsGetUserHasThem(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	out, err := c.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range out.Users {
		names = append(names, aws.ToString(u.UserName))
		if u.Tags != nil { // not even an empty <Tags/> element
			t.Fatalf("ListUsers returned tags for %s", aws.ToString(u.UserName))
		}
		if aws.ToString(u.UserId) == "" || u.CreateDate == nil {
			t.Fatalf("ListUsers user without id or create date: %+v", u)
		}
	}
	if got := strings.Join(names, ","); got != "alice,bob,ci-deployer,legacy-batch" {
		t.Fatalf("users = %s", got)
	}
	if out.Users[0].PasswordLastUsed == nil {
		t.Fatal("alice's PasswordLastUsed missing")
	}
	got, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("ALICE")})
	if err != nil || len(got.User.Tags) != 1 || aws.ToString(got.User.Tags[0].Key) != "owner" {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
}

func TestDeleteUserConflictsUntilCredentialsAndGroupsAreGone(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	alice := aws.String("alice")
	var conflict *types.DeleteConflictException

	_, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: alice})
	if !errors.As(err, &conflict) {
		t.Fatalf("with login profile: want DeleteConflict, got %v", err)
	}
	iamtWantErr(t, err, "DeleteConflict", http.StatusConflict)
	if _, err := c.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: alice}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: alice})
	if !errors.As(err, &conflict) {
		t.Fatalf("with access keys: want DeleteConflict, got %v", err)
	}
	keys, _ := sb.Keys("111111111111", "alice")
	for _, k := range keys {
		if _, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: alice, AccessKeyId: aws.String(k.AccessKeyID)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: alice})
	if !errors.As(err, &conflict) {
		t.Fatalf("with a group: want DeleteConflict, got %v", err)
	}
	if _, err := c.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{UserName: alice, GroupName: aws.String("developers")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: alice}); err != nil {
		t.Fatal(err)
	}
	var nse *types.NoSuchEntityException
	if _, err := c.GetUser(ctx, &iam.GetUserInput{UserName: alice}); !errors.As(err, &nse) {
		t.Fatalf("deleted user: want NoSuchEntity, got %v", err)
	}
	if _, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: alice}); !errors.As(err, &nse) {
		t.Fatalf("delete again: want NoSuchEntity, got %v", err)
	}
	g, err := c.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String("developers")})
	if err != nil || len(g.Users) != 0 {
		t.Fatalf("developers after delete = %+v, %v", g, err)
	}
}

func TestTagUserLimitsAndCaseInsensitiveKeys(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	bob := aws.String("bob")

	// bob has owner=bob@example.com: tagging OWNER replaces it, key spelling included.
	if _, err := c.TagUser(ctx, &iam.TagUserInput{UserName: bob, Tags: []types.Tag{{Key: aws.String("OWNER"), Value: aws.String("new@example.com")}}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: bob})
	if err != nil || len(got.Tags) != 1 || aws.ToString(got.Tags[0].Key) != "OWNER" || aws.ToString(got.Tags[0].Value) != "new@example.com" || got.IsTruncated {
		t.Fatalf("tags after overwrite = %+v, %v", got, err)
	}

	var more []types.Tag
	for i := range 49 {
		more = append(more, types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}
	if _, err := c.TagUser(ctx, &iam.TagUserInput{UserName: bob, Tags: more}); err != nil {
		t.Fatalf("up to 50 tags: %v", err)
	}
	// Overwriting an existing key at the limit is fine; a 51st key is not.
	if _, err := c.TagUser(ctx, &iam.TagUserInput{UserName: bob, Tags: []types.Tag{{Key: aws.String("K00"), Value: aws.String("w")}}}); err != nil {
		t.Fatalf("overwrite at the limit: %v", err)
	}
	_, err = c.TagUser(ctx, &iam.TagUserInput{UserName: bob, Tags: []types.Tag{{Key: aws.String("one-too-many"), Value: aws.String("v")}}})
	var limit *types.LimitExceededException
	if !errors.As(err, &limit) {
		t.Fatalf("51st tag: want LimitExceeded, got %v", err)
	}
	iamtWantErr(t, err, "LimitExceeded", http.StatusConflict)

	_, err = c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"), Tags: []types.Tag{{Key: aws.String("aws:owner"), Value: aws.String("v")}}})
	var invalid *types.InvalidInputException
	if !errors.As(err, &invalid) {
		t.Fatalf("aws: prefix: want InvalidInput, got %v", err)
	}
	_, err = c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("A"), Value: aws.String("2")}}})
	if !errors.As(err, &invalid) {
		t.Fatalf("duplicate keys: want InvalidInput, got %v", err)
	}
	var nse *types.NoSuchEntityException
	if _, err := c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("nobody"), Tags: more[:1]}); !errors.As(err, &nse) {
		t.Fatalf("unknown user: want NoSuchEntity, got %v", err)
	}

	// ListUserTags pages through all 50, ordered by key, each once.
	p := iam.NewListUserTagsPaginator(c, &iam.ListUserTagsInput{UserName: bob, MaxItems: aws.Int32(7)})
	seen := map[string]bool{}
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tg := range out.Tags {
			k := strings.ToLower(aws.ToString(tg.Key))
			if seen[k] {
				t.Fatalf("tag %s listed twice", k)
			}
			seen[k] = true
		}
	}
	if len(seen) != 50 || pages != 8 {
		t.Fatalf("ListUserTags: %d tags in %d pages, want 50 in 8", len(seen), pages)
	}

	// UntagUser matches keys case-insensitively and ignores absent keys.
	if _, err := c.UntagUser(ctx, &iam.UntagUserInput{UserName: bob, TagKeys: []string{"owner", "k00", "absent"}}); err != nil {
		t.Fatal(err)
	}
	u, err := c.GetUser(ctx, &iam.GetUserInput{UserName: bob})
	if err != nil || len(u.User.Tags) != 48 {
		t.Fatalf("after untag: %d tags, %v", len(u.User.Tags), err)
	}
	for _, tg := range u.User.Tags {
		if k := strings.ToLower(aws.ToString(tg.Key)); k == "owner" || k == "k00" {
			t.Fatalf("tag %s still present", k)
		}
	}
}

func TestGroupsMembershipLimitAndPagination(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, iamtTwoAccounts))
	c := iam.NewFromConfig(cfg)
	iamtCreateUsers(t, c, "dana", "eve", "frank")

	out, err := c.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("g00"), Path: aws.String("/teams/")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Group.Arn); got != "arn:aws:iam::111111111111:group/teams/g00" || !strings.HasPrefix(aws.ToString(out.Group.GroupId), "AGPA") {
		t.Fatalf("group = %+v", out.Group)
	}
	var exists *types.EntityAlreadyExistsException
	if _, err := c.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("G00")}); !errors.As(err, &exists) {
		t.Fatalf("duplicate group: want EntityAlreadyExists, got %v", err)
	}
	for i := 1; i <= 10; i++ {
		if _, err := c.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String(fmt.Sprintf("g%02d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if _, err := c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{UserName: aws.String("dana"), GroupName: aws.String(fmt.Sprintf("g%02d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	// Adding an existing member again is a no-op, even at the limit.
	if _, err := c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{UserName: aws.String("DANA"), GroupName: aws.String("g00")}); err != nil {
		t.Fatalf("re-add: %v", err)
	}
	_, err = c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{UserName: aws.String("dana"), GroupName: aws.String("g10")})
	var limit *types.LimitExceededException
	if !errors.As(err, &limit) {
		t.Fatalf("11th group: want LimitExceeded, got %v", err)
	}
	var nse *types.NoSuchEntityException
	if _, err := c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{UserName: aws.String("dana"), GroupName: aws.String("nogroup")}); !errors.As(err, &nse) {
		t.Fatalf("unknown group: want NoSuchEntity, got %v", err)
	}
	if _, err := c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{UserName: aws.String("nobody"), GroupName: aws.String("g00")}); !errors.As(err, &nse) {
		t.Fatalf("unknown user: want NoSuchEntity, got %v", err)
	}
	if _, err := c.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{UserName: aws.String("eve"), GroupName: aws.String("g00")}); !errors.As(err, &nse) {
		t.Fatalf("remove non-member: want NoSuchEntity, got %v", err)
	}

	// ListGroupsForUser pages through all ten, each once.
	p := iam.NewListGroupsForUserPaginator(c, &iam.ListGroupsForUserInput{UserName: aws.String("dana"), MaxItems: aws.Int32(3)})
	var groups []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page.Groups {
			groups = append(groups, aws.ToString(g.GroupName))
		}
	}
	if got := strings.Join(groups, ","); got != "g00,g01,g02,g03,g04,g05,g06,g07,g08,g09" {
		t.Fatalf("groups for dana = %s", got)
	}

	for _, u := range []string{"frank", "eve"} {
		if _, err := c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{UserName: aws.String(u), GroupName: aws.String("g00")}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := c.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String("g00"), MaxItems: aws.Int32(2)})
	if err != nil || !first.IsTruncated || len(first.Users) != 2 || aws.ToString(first.Group.GroupName) != "g00" {
		t.Fatalf("GetGroup first page = %+v, %v", first, err)
	}
	rest, err := c.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String("g00"), MaxItems: aws.Int32(2), Marker: first.Marker})
	if err != nil || rest.IsTruncated || len(rest.Users) != 1 {
		t.Fatalf("GetGroup second page = %+v, %v", rest, err)
	}
	members := aws.ToString(first.Users[0].UserName) + "," + aws.ToString(first.Users[1].UserName) + "," + aws.ToString(rest.Users[0].UserName)
	if members != "dana,eve,frank" {
		t.Fatalf("members = %s", members)
	}
	if _, err := c.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String("nogroup")}); !errors.As(err, &nse) {
		t.Fatalf("GetGroup unknown: want NoSuchEntity, got %v", err)
	}

	if _, err := c.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{UserName: aws.String("dana"), GroupName: aws.String("G00")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{UserName: aws.String("dana"), GroupName: aws.String("g10")}); err != nil {
		t.Fatalf("after leaving one group: %v", err)
	}
	g, err := c.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String("g00")})
	if err != nil || len(g.Users) != 2 {
		t.Fatalf("g00 after removal = %+v, %v", g, err)
	}
}
