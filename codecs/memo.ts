// weakMemo: a function's result kept per argument object (a WeakMap), for values derived once per long-lived
// object — our public key per private key, a Hello's encoding per Hello. Pure.
export function weakMemo<K extends object, V>(derive: (key: K) => V): (key: K) => V {
  const memo = new WeakMap<K, V>()
  return (key) => {
    let value = memo.get(key)
    if (value === undefined) {
      value = derive(key)
      memo.set(key, value)
    }
    return value
  }
}
