// node:fs/promises for aiofs JavaScript guests: written in the next commit.
export default {};
